"""Seq2SeqTrainer: generation-based evaluation and prediction."""

from trainer_seq2seq._version import __version__

__all__ = ["__version__"]
