"""`AcceleratorConfig`: the accelerate options a `TrainingArguments` carries (no accelerate import)."""

# ruff: noqa: RUF009
# RUF009: `arg()` returns an attrs field, not a shared default.

from __future__ import annotations

import copy
import os
from typing import Any

import attrs

from trainer_args.dataclass_protocol import speak_dataclass
from trainer_args.errors import FieldError, ValidationError, closest
from trainer_args.fields import arg, arg_fields
from trainer_args.typecheck import describe, matches

__all__ = ["AcceleratorConfig"]


@speak_dataclass
@attrs.define(slots=False)
class AcceleratorConfig:
    """The accelerate options of `TrainingArguments.accelerator_config` (batch dispatch, splitting).

    Same fields, defaults and methods as transformers' AcceleratorConfig. A dict or the path
    of a JSON file given as `accelerator_config` is turned into one of these.
    """

    split_batches: bool = arg(
        False, help="Split each batch across processes instead of one batch per process."
    )
    dispatch_batches: bool | None = arg(
        None, help="Iterate the dataloader on the main process only and broadcast the batches."
    )
    even_batches: bool = arg(
        True, help="Repeat samples so that every process gets a full last batch."
    )
    use_seedable_sampler: bool = arg(True, help="Use accelerate's seedable random sampler.")
    non_blocking: bool = arg(False, help="Use non-blocking host-to-device copies of batches.")
    gradient_accumulation_kwargs: dict | None = arg(  # type: ignore[type-arg]
        None, help="Extra GradientAccumulationPlugin options (num_steps, sync_each_batch)."
    )
    use_configured_state: bool = arg(
        False, help="Reuse an AcceleratorState/PartialState created before the arguments."
    )

    @classmethod
    def from_mapping(
        cls, data: dict[str, Any], path: str = "accelerator_config"
    ) -> AcceleratorConfig:
        """Build from a dict; unknown keys and wrong types raise one ValidationError listing all."""
        known = {f.name: f for f in arg_fields(cls)}
        errors = [
            FieldError(
                f"{path}.{key}", data[key], "unknown key", suggestion=closest(key, list(known))
            )
            for key in data
            if key not in known
        ]
        errors += [
            FieldError(f"{path}.{key}", value, f"expected {describe(known[key].type)}")
            for key, value in data.items()
            if key in known and not matches(value, known[key].type)
        ]
        if errors:
            raise ValidationError(errors)
        return cls(**data)

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike[str]) -> AcceleratorConfig:
        """Build from a JSON file holding an object of options, checked as `from_mapping` does.

        Raises:
            ValidationError: The file cannot be read or parsed, holds no JSON object, or has
                unknown keys or wrongly typed values.
        """
        import json

        try:
            with open(json_file, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ValidationError.for_field(
                "accelerator_config", str(json_file), f"cannot read JSON: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ValidationError.for_field(
                "accelerator_config", str(json_file), "the file must hold a JSON object"
            )
        return cls.from_mapping(data)

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict (a deep copy: editing it leaves the config alone)."""
        return copy.deepcopy(dict(self.__dict__))

    def pop(self, key: str, default: Any = None) -> Any:
        """Remove an option and return it (transformers pops `use_configured_state` during device setup)."""
        return self.__dict__.pop(key, default)
