"""Training arguments for PyTorch training: attrs schemas, parser, validation and JSON Schema. No torch required."""

from trainer_args._version import __version__

__all__ = ["__version__"]
