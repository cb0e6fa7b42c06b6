"""`Seq2SeqTrainingArguments`: TrainingArguments plus the five generation fields."""

# ruff: noqa: RUF009
# RUF009: `arg()` returns an attrs field, not a shared default.

from pathlib import Path
from typing import Any

import attrs

from trainer_args.fields import arg
from trainer_args.training_args import TrainingArguments

__all__ = ["Seq2SeqTrainingArguments"]


@attrs.define(slots=False, repr=False, on_setattr=attrs.setters.NO_OP)
class Seq2SeqTrainingArguments(TrainingArguments):
    """to_dict turns a GenerationConfig object (anything with `to_dict`) into its dict."""

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
