"""`Seq2SeqTrainingArguments`: TrainingArguments plus the five generation fields."""

# ruff: noqa: RUF009
# RUF009: `arg()` returns an attrs field, not a shared default.

from pathlib import Path
from typing import Any

import attrs

from trainer_args.dataclass_protocol import expose_class_defaults
from trainer_args.fields import arg
from trainer_args.training_args import TrainingArguments

__all__ = ["Seq2SeqTrainingArguments"]


@expose_class_defaults
@attrs.define(slots=False, repr=False, on_setattr=attrs.setters.NO_OP)
class Seq2SeqTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the generation fields that `Seq2SeqTrainer` reads.

    With `predict_with_generate=True`, evaluation and prediction call the model's
    `generate()`: `generation_max_length` and `generation_num_beams` are the defaults of
    those calls, and `generation_config` replaces the model's generation config when the
    trainer is built. Every other field, method and rule is inherited unchanged.

    `to_dict()` (and so JSON/YAML output) writes a `generation_config` object (a
    GenerationConfig, or anything with a `to_dict` method) as its dict.
    """

    sortish_sampler: bool = arg(False, help="Use a sortish sampler (declared upstream, unused).")
    predict_with_generate: bool = arg(
        False, help="Use generate() in evaluate/predict and return generated ids."
    )
    generation_max_length: int | None = arg(
        None, help="Default max_length for generate() in evaluation."
    )
    generation_num_beams: int | None = arg(
        None, help="Default num_beams for generate() in evaluation."
    )
    generation_config: str | Path | Any | None = arg(
        None, help="A GenerationConfig, a file or folder path, or a model id."
    )
