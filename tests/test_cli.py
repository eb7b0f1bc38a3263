"""The command line's shape: ``--help`` loads nothing it does not need, each command imports only
itself, and only expected failures (the project's ProjectError, the file system's OSError) become
one line; anything else is a bug and keeps its traceback."""
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from training.cli import COMMANDS
from training.errors import ProjectError

IMPORTED = """
import sys
from training.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("imported:", *sorted(m for m in sys.modules if m == "torch" or m.startswith("training.commands.")))
"""


def _imported_by(*argv) -> set[str]:
    """The command modules (and torch) that ``python -m training ARGV`` imports, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", IMPORTED, *argv], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.rpartition("imported:")[2].split())


def test_help_lists_every_command_without_importing_one():
    assert _imported_by("--help") == set()
    assert _imported_by("no-such-command") == set()


def test_a_command_imports_only_itself():
    assert _imported_by("embed", "--help") - {"torch"} == {"training.commands.embed",
                                                           "training.commands.arguments"}
    assert _imported_by("report", "--help") - {"torch"} == {"training.commands.report"}


def test_every_command_module_parses_and_calls():
    """A command module holds its flags and one call into the library: no other functions of its own but
    the small parsers of its arguments."""
    import importlib
    import inspect
    for command in COMMANDS:
        module = importlib.import_module(f"training.commands.{command.module}")
        own = [name for name, f in inspect.getmembers(module, inspect.isfunction)
               if f.__module__ == module.__name__]
        assert {"add_arguments", "run"} <= set(own), command.name
        assert len(own) <= 4, f"{command.name}: {own}"


def test_expected_failures_are_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    code, _, err = run_cli("export", "--checkpoint", ROOT / "assets", "--out", ROOT / "assets")
    assert code == 1 and err.strip().endswith("must differ from --checkpoint (the original weights would be "
                                              "lost)")
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "a-file").write_text("")   # the file system's failures too: no directory under a file
    code, _, err = run_cli("encode", ROOT / "docs" / "example-sneaker.png", "--out",
                           tmp_path / "a-file" / "x")
    assert code == 1 and "a-file" in err and len(err.strip().splitlines()) == 1

    from training.synthesis import export

    def broken(*args, **kwargs):
        raise ValueError("a bug, not bad input")
    monkeypatch.setattr(export, "export", broken)
    monkeypatch.setattr("training.commands.export.export", broken)
    with pytest.raises(ValueError, match="a bug, not bad input"):
        run_cli("export", "--checkpoint", ROOT / "assets", "--out", tmp_path / "half")
    assert issubclass(ProjectError, Exception) and not issubclass(ProjectError, ValueError)
