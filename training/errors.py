"""The project's one error type for expected failures.

Bad input is expected: a missing or corrupt file, a model directory that is not one, an argument
that makes no sense, a run that cannot go on. Such a failure raises a ``ProjectError`` (or one of
its subclasses, each defined beside the code that raises it: ``data.DataError``,
``model.ModelLoadError``, ``fit.train.TrainingError``, …) whose message is one line naming the
file or value and what was expected. ``python -m training`` prints that line and exits 1; the app
shows it as a message. Anything else is a bug and keeps its traceback.
"""


class ProjectError(Exception):
    """An expected failure; the message is one line that names the problem."""
