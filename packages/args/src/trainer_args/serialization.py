"""(De)serialisation with cattrs: dicts, JSON and YAML files for any arguments class.

`from_dict` checks the keys (unknown ones raise with the closest known name), gently
structures each value to its field type (numeric strings such as YAML's `5e-5` become
numbers, integral floats become ints) and constructs the class, which then validates.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import cattrs

from trainer_args.errors import FieldError, ValidationError, closest
from trainer_args.fields import init_fields
from trainer_args.typecheck import is_union, matches, union_members
from trainer_args.validation import field_types

__all__ = [
    "coerce",
    "converter",
    "dump_yaml",
    "from_dict",
    "load_file",
    "load_json",
    "load_yaml",
    "unknown_key_errors",
    "unstructure",
]

_T = TypeVar("_T")
_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False}


def _number(value: Any, tp: type) -> Any:
    """A str or float that spells a number of type `tp`, converted; anything else unchanged."""
    try:
        if isinstance(value, str):
            number = float(value.strip())
        elif isinstance(value, float):
            number = value
        else:
            return value
    except ValueError:
        return value
    if tp is int:
        return int(number) if number.is_integer() else value
    return number


def coerce(value: Any, tp: Any) -> Any:
    """`value` made to fit `tp` where that is unambiguous; unchanged otherwise (validation reports it)."""
    if matches(value, tp):
        return value
    for member in union_members(tp) if is_union(tp) else (tp,):
        if member in (int, float):
            converted = _number(value, member)
        elif member is bool and isinstance(value, str):
            converted = _BOOL_WORDS.get(value.strip().lower(), value)
        else:
            continue
        if matches(converted, member):
            return converted
    return value


def unknown_key_errors(cls: type, data: dict[str, Any]) -> list[FieldError]:
    """One FieldError per key of `data` that is no field of `cls`, with the closest field name."""
    known = [f.name for f in init_fields(cls)]
    return [
        FieldError(str(k), data[k], "unknown argument", suggestion=closest(k, known))
        for k in data
        if k not in known
    ]


def _structure_args(data: Any, cls: type[_T], allow_unknown: bool = False) -> _T:
    if not isinstance(data, dict):
        raise ValidationError.for_field(
            cls.__name__, data, "expected a mapping of argument names to values"
        )
    errors = [] if allow_unknown else unknown_key_errors(cls, data)
    if errors:
        raise ValidationError(errors)
    types_ = field_types(cls)
    names = {f.name for f in init_fields(cls)}
    kwargs = {
        k: coerce(v, types_.get(k, Any))
        for k, v in data.items()
        if k in names and not _masked(k, v)
    }
    return cls(**kwargs)


def _masked(key: str, value: Any) -> bool:
    """A token that to_dict() masked ("<HUB_TOKEN>") carries no token: the field keeps its default."""
    return key.endswith("_token") and value == f"<{key.upper()}>"


def _is_args_class(cls: Any) -> bool:
    return (
        isinstance(cls, type)
        and hasattr(cls, "_VALID_DICT_FIELDS")
        and hasattr(cls, "__attrs_attrs__")
    )


@lru_cache(maxsize=1)
def converter() -> cattrs.Converter:
    """The package's converter, built on first use (keeps `import trainer_args` light)."""
    conv = cattrs.Converter()
    conv.register_structure_hook_func(_is_args_class, _structure_args)
    conv.register_unstructure_hook_func(_is_args_class, lambda args: args.to_dict())
    conv.register_unstructure_hook(Path, str)
    return conv


def from_dict(cls: type[_T], data: dict[str, Any], allow_unknown: bool = False) -> _T:
    """Build `cls` from a mapping such as `to_dict()` output; only ValidationError escapes."""
    if allow_unknown:
        return _structure_args(data, cls, allow_unknown=True)
    return converter().structure(data, cls)


def unstructure(args: Any) -> dict[str, Any]:
    """A JSON-ready dict (to_dict, with paths as strings)."""
    result: dict[str, Any] = converter().unstructure(converter().unstructure(args), dict)
    return result


def load_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The object in a JSON file; ValidationError when unreadable, invalid or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValidationError.for_field(str(path), None, f"cannot read JSON: {exc}") from exc
    return _mapping(path, data)


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise ImportError("YAML support needs PyYAML: pip install 'trainer-args[yaml]'") from exc
    return yaml


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a YAML file, read with `yaml.safe_load` (needs PyYAML).

    Raises ValidationError when the file is unreadable, invalid or holds no mapping.
    """
    yaml = _yaml()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError, yaml.YAMLError) as exc:
        raise ValidationError.for_field(str(path), None, f"cannot read YAML: {exc}") from exc
    return _mapping(path, data)


def _mapping(path: str | os.PathLike[str], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError.for_field(
            str(path), data, "the file must hold a mapping of argument names to values"
        )
    return data


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON or YAML file (by extension: .yaml/.yml are YAML, anything else JSON)."""
    suffix = Path(path).suffix.lower()
    return load_yaml(path) if suffix in (".yaml", ".yml") else load_json(path)


def dump_yaml(data: dict[str, Any]) -> str:
    """`data` as YAML text, keys in their dict order (needs PyYAML)."""
    return str(_yaml().safe_dump(data, sort_keys=False))
