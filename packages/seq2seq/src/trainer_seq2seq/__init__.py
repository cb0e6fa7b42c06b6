"""Seq2SeqTrainer: generation-based evaluation and prediction."""

from trainer_seq2seq._version import __version__
from trainer_seq2seq.generation import GenerationConfig, load_generation_config
from trainer_seq2seq.trainer import Seq2SeqTrainer

__all__ = [
    "GenerationConfig",
    "Seq2SeqTrainer",
    "__version__",
    "load_generation_config",
]
