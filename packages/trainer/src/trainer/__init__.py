"""A transformers-compatible PyTorch training library: Trainer, TrainingArguments, Seq2SeqTrainer, CLI and demos."""

from trainer._version import __version__

__all__ = ["__version__"]
