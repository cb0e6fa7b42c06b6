"""The dataclass protocol for the attrs arguments classes: `dataclasses` sees their fields.

transformers' `TrainingArguments` is a dataclass, and scripts treat it as one: they subclass
it with `@dataclass`, call `super().__post_init__()`, read class-level defaults
(`TrainingArguments.learning_rate`) and call `dataclasses.fields/asdict/replace`. Here the
attrs fields stay the one source of truth, and `dataclasses` is shown a mirror of them:

- `__dataclass_fields__` and `__dataclass_params__` are descriptors. On first use for a
  class they build a field-only dataclass from its attrs init fields (with the public
  `dataclasses.make_dataclass`; no methods are generated) and hand out its `Field`s.
  `@dataclass` reads them from the bases of a subclass exactly as it reads a dataclass
  base's, so the subclass's own fields come after ours, and its generated `__init__` ends
  by calling `__post_init__`, which validates. An `@attrs.define` subclass, which has no
  `__dataclass_fields__` of its own, gets a mirror of its own attrs fields.
- Class-level defaults, which attrs removes, are put back as a dataclass leaves them
  (factory-made defaults excepted, as there).

Nothing here imports `dataclasses` until a mirror is first asked for, so `import
trainer_args` stays fast.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any, TypeVar

import attrs

__all__ = ["expose_class_defaults", "mirror", "speak_dataclass"]

_C = TypeVar("_C", bound=type)
_MIRRORS: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()
_FIELDS = "__dataclass_fields__"
_PARAMS = "__dataclass_params__"


def _mirror_field(attribute: attrs.Attribute) -> Any:  # type: ignore[type-arg]
    import dataclasses

    default = attribute.default
    metadata = attribute.metadata
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = default.factory  # type: ignore[union-attr]
        if default.takes_self:  # type: ignore[union-attr]
            return dataclasses.field(metadata=metadata)  # no dataclass spelling: required
        return dataclasses.field(default_factory=factory, metadata=metadata)
    if default is attrs.NOTHING:
        return dataclasses.field(metadata=metadata)
    if type(default).__hash__ is None:
        # dataclasses refuses a shared mutable default; an equal fresh copy per instance.
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def mirror(cls: type) -> type:
    """A field-only dataclass holding the attrs init fields of `cls` (built once per class)."""
    made = _MIRRORS.get(cls)
    if made is None:
        import dataclasses

        specs = [
            (a.name, Any if a.type is None else a.type, _mirror_field(a))
            for a in attrs.fields(cls)
            if a.init
        ]
        # init/repr/eq=False: only the Field objects are wanted, no generated methods (and
        # so no "non-default argument follows default argument" check either).
        made = dataclasses.make_dataclass(
            cls.__name__, specs, init=False, repr=False, eq=False, match_args=False
        )
        _MIRRORS[cls] = made
    return made


def _params() -> Any:
    """The parameters a plain `@dataclass` gets (init, repr and eq: what the attrs class has)."""
    import dataclasses

    return getattr(dataclasses.make_dataclass("_Params", []), _PARAMS)


class _DataclassView:
    """`__dataclass_fields__` or `__dataclass_params__` of an attrs class, from its mirror."""

    def __init__(self, attribute: str) -> None:
        self._attribute = attribute
        self._params: Any = None

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if self._attribute == _PARAMS:
            if self._params is None:
                self._params = _params()
            return self._params
        return getattr(mirror(owner if owner is not None else type(instance)), _FIELDS)


def expose_class_defaults(cls: _C) -> _C:
    """Set each own attrs field's plain default as a class attribute, as a dataclass has it."""
    for attribute in attrs.fields(cls):
        default = attribute.default
        if attribute.inherited or default is attrs.NOTHING or isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            continue
        setattr(cls, attribute.name, default)
    return cls


def speak_dataclass(cls: _C) -> _C:
    """Make the attrs class `cls` (and its subclasses) a dataclass to `dataclasses` and user code."""
    setattr(cls, _FIELDS, _DataclassView(_FIELDS))
    setattr(cls, _PARAMS, _DataclassView(_PARAMS))
    return expose_class_defaults(cls)
