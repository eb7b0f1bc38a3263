"""Fitting a model: the training loop (``train``), its named configurations (``presets``), fine-tuning
the decoder against a discriminator (``finetune``), what lets a run go on where it stopped
(``resume``), the held-out ELBO measured after every epoch (``held_out``) and several processes
under torchrun (``distributed``)."""
from ..errors import ProjectError


class TrainingError(ProjectError):
    """Training cannot go on; the message is one line and says what was kept."""
