"""`json_schema(cls)`: a JSON Schema (draft 2020-12) for any arguments class.

Every init field becomes a property with its type, default, allowed values and its help
string as description. Fields that accept more before normalisation than their
annotation says (e.g. `fsdp`, `accelerator_config`) use the wider type, so both input
files and `to_dict()` output validate.
"""

from __future__ import annotations

import typing
from enum import Enum
from pathlib import PurePath
from typing import Any, Literal, get_args, get_origin

import attrs

from trainer_args.fields import ACCEPTS
from trainer_args.parser import MISSING, ArgumentSpec, argument_specs
from trainer_args.typecheck import is_union

__all__ = ["json_schema", "type_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
}


def _union_schema(tp: Any) -> dict[str, Any]:
    members = get_args(tp)
    if any(isinstance(m, type) and issubclass(m, Enum) for m in members):
        # `SchedulerType | str`: the str is the enum's value spelling, not any string.
        members = tuple(m for m in members if m is not str)
    if len(members) == 1:
        return type_schema(members[0])
    options = [type_schema(member) for member in members]
    if any(not option for option in options):
        return {}  # one member is Any: anything goes
    return {"anyOf": options}


def _class_schema(tp: type) -> dict[str, Any]:
    if issubclass(tp, Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if issubclass(tp, PurePath):
        return {"type": "string"}
    if attrs.has(tp):
        return _object_schema(tp)
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    return {}


def type_schema(tp: Any) -> dict[str, Any]:
    """The schema of one annotation (unknown classes: no constraint)."""
    if tp is Any:
        return {}
    if tp is None:
        return {"type": "null"}
    if is_union(tp):
        return _union_schema(tp)
    origin = get_origin(tp)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is list:
        args = get_args(tp)
        return {"type": "array", "items": type_schema(args[0])} if args else {"type": "array"}
    if origin is dict or tp is dict:
        args = get_args(tp)
        value = type_schema(args[1]) if args else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    return _class_schema(tp) if isinstance(tp, type) else {}


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_default(v) for v in value]
    return value


def _property(spec: ArgumentSpec) -> dict[str, Any]:
    prop = type_schema(spec.metadata.get(ACCEPTS, spec.type))
    choices = spec.metadata.get("choices")
    if choices is not None:
        prop["enum"] = [*choices, *([None] if spec.default is None else [])]
    if spec.default is not MISSING:
        prop["default"] = _json_default(spec.default)
    elif spec.default_factory is not MISSING:
        prop["default"] = _json_default(spec.default_factory())
    prop["description"] = str(spec.metadata.get("help", ""))
    return prop


def _object_schema(cls: type) -> dict[str, Any]:
    specs = argument_specs(cls)
    required = [s.name for s in specs if s.default is MISSING and s.default_factory is MISSING]
    schema: dict[str, Any] = {
        "type": "object",
        "title": cls.__name__,
        "properties": {s.name: _property(s) for s in specs},
        "additionalProperties": False,
    }
    doc = (typing.cast(str, cls.__doc__) or "").strip().splitlines()
    if doc:
        schema["description"] = doc[0]
    if required:
        schema["required"] = required
    return schema


def json_schema(cls: type) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of an attrs arguments class or dataclass."""
    return {"$schema": SCHEMA_DIALECT, **_object_schema(cls)}
