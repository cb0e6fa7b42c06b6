"""`arg()`: declare one arguments field with its default, help string and extras.

The help string and the argparse extras (`choices`, `nargs`, `const`, `aliases`) live in
the attrs field metadata, where `ArgumentParser` and `json_schema` read them. Keys that
start with `trainer_args.` are ours and never reach argparse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["ACCEPTS", "CHECK", "arg", "arg_fields", "help_of", "init_fields"]

# Metadata key: a type wider than the annotation that the value may have before
# normalisation (e.g. `fsdp` is annotated `str | None` but accepts True or a list).
ACCEPTS = "trainer_args.accepts"
# Metadata key: the field's own check, `(value) -> message or None`, used instead of the type
# check (for duck-typed values that no annotation describes).
CHECK = "trainer_args.check"


def arg(
    default: Any = attrs.NOTHING,
    *,
    help: str,
    factory: Callable[[], Any] | None = None,
    choices: Sequence[object] | None = None,
    nargs: str | None = None,
    const: Any = None,
    aliases: str | list[str] | None = None,
    accepts: Any = None,
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """An attrs field with `metadata={"help": help, ...}`; returns Any so annotations stay exact."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = list(choices)
    if nargs is not None:
        metadata["nargs"] = nargs
        metadata["const"] = const
    if aliases is not None:
        metadata["aliases"] = aliases
    if accepts is not None:
        metadata[ACCEPTS] = accepts
    if check is not None:
        metadata[CHECK] = check
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


def arg_fields(cls: type) -> tuple[attrs.Attribute, ...]:  # type: ignore[type-arg]
    """The user-facing (init) fields of an attrs arguments class, in declaration order."""
    return tuple(f for f in attrs.fields(cls) if f.init)


def init_fields(cls: type) -> tuple[Any, ...]:
    """The init fields of any arguments class as `dataclasses.Field`s, in declaration order.

    One answer for an attrs class (ours, or an `@attrs.define` subclass), a `@dataclass`
    subclass of one (its own fields after ours), and a plain dataclass or attrs class, so the
    parser, `to_dict`, the JSON Schema and the CLI all see a subclass's fields.

    Raises:
        TypeError: `cls` is neither a dataclass nor an attrs class.
    """
    import dataclasses

    if dataclasses.is_dataclass(cls):
        return tuple(f for f in dataclasses.fields(cls) if f.init)
    if attrs.has(cls):
        from trainer_args.dataclass_protocol import mirror

        return tuple(f for f in dataclasses.fields(mirror(cls)) if f.init)
    raise TypeError(f"{cls!r} is neither an attrs class nor a dataclass")


def help_of(field: attrs.Attribute) -> str:  # type: ignore[type-arg]
    """The help string of a field declared with `arg()` (empty when it has none)."""
    return str(field.metadata.get("help", ""))
