"""The Trainer: training, evaluation, prediction, callbacks, optimizers, schedulers and checkpoints."""

from trainer_loop._version import __version__

__all__ = ["__version__"]
