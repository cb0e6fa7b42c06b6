"""The error raised when a training setup cannot work on this machine."""

from __future__ import annotations

from trainer_args import FieldError, ValidationError


class UnsupportedSetupError(ValidationError):
    """An argument (or a combination) that this platform, torch or accelerate cannot run.

    A `trainer_args.ValidationError` (so a `ValueError`, as transformers raises for bad
    arguments); the message names the argument, its value and why it cannot work here.
    """

    def __init__(self, argument: str, value: object, reason: str) -> None:
        self.argument = argument
        self.value = value
        self.reason = reason
        super().__init__(FieldError(argument, value, f"cannot be used here: {reason}"))
