"""The arguments as transformers' `to_dict` gives them: enums as values, tokens masked.

The reading side, `from_dict` and the files, is cattrs' (`trainer_args.serialization`); this
side stays free of cattrs so that building and printing arguments never imports it.
"""

from __future__ import annotations

import copy
from enum import Enum
from typing import Any

from trainer_args.fields import init_fields

__all__ = ["plain_fields", "to_dict"]


def plain_fields(args: Any) -> dict[str, Any]:
    """Init fields by name, nested config objects as dicts (like dataclasses.asdict)."""
    out: dict[str, Any] = {}
    for field in init_fields(type(args)):
        value = getattr(args, field.name)
        out[field.name] = value.to_dict() if _is_config_object(value) else copy.deepcopy(value)
    return out


def _is_config_object(value: Any) -> bool:
    return not isinstance(value, (dict, type)) and callable(getattr(value, "to_dict", None))


def _dtype_to_str(d: dict[str, Any]) -> None:
    """A non-string `dtype` anywhere in nested dicts becomes e.g. "float32" (torch.float32)."""
    if d.get("dtype") is not None and not isinstance(d["dtype"], str):
        d["dtype"] = str(d["dtype"]).split(".")[1]
    for value in d.values():
        if isinstance(value, dict):
            _dtype_to_str(value)


def _convert(name: str, value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list) and value and isinstance(value[0], Enum):
        return [v.value for v in value]
    if name.endswith("_token"):
        return f"<{name.upper()}>"
    if name == "parallelism_config" and value is not None:
        return value.to_json()
    if _is_config_object(value):
        # AcceleratorConfig, and a GenerationConfig object in Seq2SeqTrainingArguments.
        return value.to_dict()
    # Copies, so that editing the dict never edits the arguments.
    return copy.deepcopy(value) if isinstance(value, (dict, list)) else value


def to_dict(args: Any) -> dict[str, Any]:
    """Init fields in declaration order: enums as values, tokens masked, config objects as dicts."""
    d = {f.name: _convert(f.name, getattr(args, f.name)) for f in init_fields(type(args))}
    _dtype_to_str(d)
    return d
