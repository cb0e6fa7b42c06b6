"""Runtime checks of values against the field annotations (no third-party code)."""

from __future__ import annotations

import os
import types
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["describe", "is_union", "matches", "union_members"]

_NONE = type(None)


def is_union(tp: Any) -> bool:
    """Whether an annotation is a union (`X | Y` or `typing.Union[X, Y]`, `Optional` included)."""
    origin = get_origin(tp)
    return origin is Union or origin is types.UnionType


def union_members(tp: Any) -> tuple[Any, ...]:
    """The members of a union annotation; any other annotation as a 1-tuple."""
    return get_args(tp) if is_union(tp) else (tp,)


def _matches_scalar(value: Any, tp: type) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if issubclass(tp, Enum):
        # A str enum field also takes the value string; it is converted afterwards.
        values = tp._value2member_map_
        return isinstance(value, tp) or (isinstance(value, str) and value in values)
    if tp is str:
        return isinstance(value, str)
    if issubclass(tp, os.PathLike):
        return isinstance(value, (os.PathLike, str))
    return isinstance(value, tp)


def _matches_literal(value: Any, options: tuple[Any, ...]) -> bool:
    return any(type(value) is type(o) and value == o for o in options)


def matches(value: Any, tp: Any) -> bool:
    """Whether `value` is acceptable for annotation `tp` (ints count as floats, bools as neither)."""
    if tp is Any:
        return True
    if tp is None or tp is _NONE:
        return value is None
    if is_union(tp):
        return any(matches(value, member) for member in get_args(tp))
    origin = get_origin(tp)
    if origin is Literal:
        return _matches_literal(value, get_args(tp))
    if origin is list:
        (item,) = get_args(tp) or (Any,)
        return isinstance(value, list) and all(matches(v, item) for v in value)
    if origin is dict:
        key, val = get_args(tp) or (Any, Any)
        return isinstance(value, dict) and all(
            matches(k, key) and matches(v, val) for k, v in value.items()
        )
    if isinstance(tp, type):
        return _matches_scalar(value, tp)
    return True


def describe(tp: Any) -> str:
    """A short human spelling of an annotation: `int | None`, `list[str]`, `'no' | 'steps'`."""
    if tp is Any:
        return "any"
    if tp is None or tp is _NONE:
        return "None"
    if is_union(tp):
        return " | ".join(describe(m) for m in get_args(tp))
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(o) for o in get_args(tp))
    if origin is not None:
        inner = ", ".join(describe(a) for a in get_args(tp))
        return f"{origin.__name__}[{inner}]"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return f"{tp.__name__} (one of {[m.value for m in tp]})"
    return getattr(tp, "__name__", str(tp))
