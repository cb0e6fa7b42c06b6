"""Read the nested configs of `TrainingArguments` whatever shape they arrive in."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

# transformers' AcceleratorConfig defaults.
ACCELERATOR_CONFIG_DEFAULTS: dict[str, Any] = {
    "split_batches": False,
    "dispatch_batches": None,
    "even_batches": True,
    "use_seedable_sampler": True,
    "non_blocking": False,
    "gradient_accumulation_kwargs": None,
    "use_configured_state": False,
}


def as_dict(value: Any) -> dict[str, Any]:
    """A plain dict from a mapping, an attrs/dataclass instance, an object with `to_dict`, or a JSON path."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (str, os.PathLike)):
        with open(value, encoding="utf-8") as f:
            loaded = json.load(f)
        if not isinstance(loaded, dict):
            raise ValueError(f"{value!s} does not hold a JSON object")
        return loaded
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    attrs_fields = getattr(type(value), "__attrs_attrs__", None)
    if attrs_fields is not None:
        return {a.name: getattr(value, a.name) for a in attrs_fields}
    return dict(vars(value))


def accelerator_config(args: Any) -> dict[str, Any]:
    """`args.accelerator_config` as a dict with transformers' defaults filled in."""
    merged = dict(ACCELERATOR_CONFIG_DEFAULTS)
    merged.update(as_dict(getattr(args, "accelerator_config", None)))
    return merged
