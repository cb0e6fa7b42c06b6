"""The dict, JSON, YAML and text forms of `TrainingArguments`, as methods of a plain base class.

Writing goes through `trainer_args.transformers_dict` (transformers' `to_dict`: no cattrs, so
printing arguments stays cheap); reading through `trainer_args.serialization` (cattrs), imported
on first use. `TrainingArguments` has this class as a base; its fields are declared there only.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from trainer_args import transformers_dict

__all__ = ["Conversions"]

_C = TypeVar("_C", bound="Conversions")


class Conversions:
    """`to_dict`, `from_dict`, the JSON and YAML files, and `str()` (a mixin)."""

    def to_dict(self) -> dict[str, Any]:
        """The arguments as a JSON-ready dict, in field order, as transformers' `to_dict`.

        Enums become their values, `*_token` fields are masked (`"<HUB_TOKEN>"`) and nested
        config objects become dicts; the dict is a copy, safe to edit.
        """
        return transformers_dict.to_dict(self)

    def to_json_string(self) -> str:
        """`to_dict()` as indented JSON (tokens masked, so the text is safe to log or share)."""
        import json

        return json.dumps(self.to_dict(), indent=2)

    def to_sanitized_dict(self) -> dict[str, Any]:
        """`to_dict()` made fit for hyperparameter loggers such as TensorBoard's hparams.

        Adds `train_batch_size` and `eval_batch_size`; every value that is not a bool, int,
        float or str is replaced by its `str()`.
        """
        sizes: Any = self  # the batch sizes are properties of TrainingArguments, not of this base
        d = {
            **self.to_dict(),
            "train_batch_size": sizes.train_batch_size,
            "eval_batch_size": sizes.eval_batch_size,
        }
        return {k: v if type(v) in (bool, int, float, str) else str(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls: type[_C], data: dict[str, Any], allow_unknown: bool = False) -> _C:
        """Build from a to_dict()-style mapping; unknown keys raise unless allow_unknown."""
        from trainer_args.serialization import from_dict

        return from_dict(cls, data, allow_unknown=allow_unknown)

    def to_json_file(self, path: str | os.PathLike[str]) -> None:
        """Write `to_json_string()` to `path`; `from_json_file` reads it back."""
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_json_string() + "\n")

    @classmethod
    def from_json_file(
        cls: type[_C], path: str | os.PathLike[str], allow_unknown: bool = False
    ) -> _C:
        """Build from a JSON file holding a `to_dict()`-style object (as `to_json_file` writes).

        Numbers written as strings and integral floats are converted to the field types.

        Raises:
            ValidationError: the file cannot be read or parsed, holds no JSON object, has
                unknown keys (unless `allow_unknown`), or holds invalid values; every problem
                is listed.
        """
        from trainer_args.serialization import load_json

        return cls.from_dict(load_json(path), allow_unknown=allow_unknown)

    def to_yaml_file(self, path: str | os.PathLike[str]) -> None:
        """Write `to_dict()` to `path` as YAML, in field order (needs `trainer-args[yaml]`)."""
        from trainer_args.serialization import dump_yaml

        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dump_yaml(self.to_dict()))

    @classmethod
    def from_yaml_file(
        cls: type[_C], path: str | os.PathLike[str], allow_unknown: bool = False
    ) -> _C:
        """Build from a YAML file holding a mapping of field names to values (needs PyYAML).

        Raises:
            ValidationError: the file cannot be read or parsed, holds no mapping, has unknown
                keys (unless `allow_unknown`), or holds invalid values; every problem is listed.
        """
        from trainer_args.serialization import load_yaml

        return cls.from_dict(load_yaml(path), allow_unknown=allow_unknown)

    # ----------------------------------------------------------------- repr
    def __str__(self) -> str:
        items = transformers_dict.plain_fields(self)
        items = {k: f"<{k.upper()}>" if k.endswith("_token") else v for k, v in items.items()}
        body = "".join(f"{k}={v},\n" for k, v in sorted(items.items()))
        return f"{type(self).__name__}(\n{body})"

    __repr__ = __str__
