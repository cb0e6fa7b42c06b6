"""A job's `args:` plus command-line overrides -> one checked `TrainingArguments`.

The job's values become the parser's defaults, so any `--field value` on the command line
wins, and both pass through the same conversion (`trainer_args.ArgumentParser`). Mistakes
become `JobError`s naming the job line or the flag, with the closest field name suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from trainer.jobs import Job, JobError, suggest

__all__ = ["arguments_class", "build_arguments", "field_names"]


def arguments_class(job: Job) -> type:
    """`Seq2SeqTrainingArguments` for `trainer: seq2seq` jobs, `TrainingArguments` otherwise."""
    from trainer_args import Seq2SeqTrainingArguments, TrainingArguments

    return Seq2SeqTrainingArguments if job.trainer == "seq2seq" else TrainingArguments


def field_names(cls: type) -> list[str]:
    """The constructor fields of an arguments class (a subclass's own fields included)."""
    from trainer_args.fields import init_fields

    return [field.name for field in init_fields(cls)]


def build_arguments(job: Job, overrides: Sequence[str] = ()) -> Any:
    """The job's `args:` with `overrides` (`--field value ...`) applied on top."""
    from trainer_args import ValidationError

    cls = arguments_class(job)
    names = field_names(cls)
    for key in job.args:
        if key not in names:
            raise JobError(
                f"{job.where(key)}: {key!r} is not a {cls.__name__} field{suggest(key, names)}"
            )
    parser = _parser(cls, job)
    _, unknown = parser.parse_known_args(list(overrides))
    if unknown:
        flag = next((item for item in unknown if item.startswith("-")), unknown[0])
        name = flag.lstrip("-").split("=")[0].replace("-", "_")
        raise JobError(f"unknown option {flag!r}{suggest(name, names, prefix='--')}")
    # Only the flags actually given override the job; both go through the same checks.
    values = {**job.args, **parser.parse_overrides(list(overrides))}
    try:
        (arguments,) = parser.parse_dict(values)
    except ValidationError as error:
        fields = [item.field.split(".")[0] for item in error.errors]
        where = next((job.where(f) for f in fields if f in job.args), job.source)
        raise JobError(f"{where}: {error}") from None
    return arguments


def _parser(cls: type, job: Job) -> Any:
    """trainer_args' parser, raising `JobError` instead of exiting on a bad flag value."""
    from trainer_args import ArgumentParser

    class _JobArgumentParser(ArgumentParser):  # type: ignore[misc,valid-type]
        def error(self, message: str) -> NoReturn:
            raise JobError(message)

    return _JobArgumentParser(cls, prog=f"trainer train {job.source}", add_help=False)
