"""MkDocs hook: the `TrainingArguments` field tables, rendered from the attrs metadata.

A page line `<!-- args-reference: TrainingArguments -->` becomes, at build time, an HTML
table of every init field of `trainer_args.TrainingArguments` (name, type, default, help
from `metadata["help"]`, allowed values) followed by a mkdocstrings directive for the
class's methods and properties (the fields themselves are filtered out there, since the
table already shows them). The table is read from `attrs.fields(...)` on every build, so
it cannot drift from the code.
"""

from __future__ import annotations

import enum
import html
import importlib
import re
import types
import typing
from typing import Any

import attrs

MARKER = re.compile(r"^<!--\s*args-reference:\s*([\w.]+)\s*-->\s*$", re.MULTILINE)
# `trainer_args.enums.SchedulerType` -> `SchedulerType`, `typing.Any` -> `Any`.
_MODULE_PREFIX = re.compile(r"\b(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_])")
_BACKTICKS = re.compile(r"`([^`]+)`")
ARGS_PACKAGE = "trainer_args"


def args_class(name: str) -> type:
    """`TrainingArguments` or `trainer_args.TrainingArguments` -> the class."""
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module or ARGS_PACKAGE), attr)  # type: ignore[no-any-return]


def init_fields(cls: type) -> list[attrs.Attribute[Any]]:
    """The fields a user sets, in declaration order (private bookkeeping fields are not init)."""
    return [f for f in attrs.fields(cls) if f.init]


def format_type(annotation: Any) -> str:
    """A short, readable type: classes by name, module prefixes dropped from unions/generics."""
    if annotation is None:
        return ""
    if isinstance(annotation, str):
        text = annotation
    elif isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        text = annotation.__name__
    else:
        text = repr(annotation)
    text = text.replace("NoneType", "None")
    return _MODULE_PREFIX.sub("", text)


def format_default(field: attrs.Attribute[Any]) -> str:
    """The default as Python would write it; `required` when the field has none."""
    default = field.default
    if default is attrs.NOTHING:
        return "required"
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:  # type: ignore[attr-defined]
            return "computed"
        return repr(default.factory())  # type: ignore[attr-defined]
    if isinstance(default, enum.Enum):
        return repr(default.value)
    return repr(default)


def _enum_members(annotation: Any) -> list[enum.Enum]:
    candidates = typing.get_args(annotation) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return list(candidate)
    return []


def allowed_values(field: attrs.Attribute[Any]) -> list[str]:
    """The values the parser accepts: explicit `choices`, else the members of an enum type."""
    choices = field.metadata.get("choices")
    if choices:
        return [str(getattr(c, "value", c)) for c in choices]
    return [str(member.value) for member in _enum_members(field.type)]


def help_text(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("help", ""))


def _inline(text: str) -> str:
    """Escape HTML and turn `code` spans into <code> (the help strings use backticks)."""
    escaped = html.escape(text, quote=False)
    return _BACKTICKS.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)


def _code(text: str) -> str:
    return f"<code>{html.escape(text, quote=False)}</code>"


def field_row(field: attrs.Attribute[Any], anchor_prefix: str) -> str:
    description = _inline(help_text(field))
    values = allowed_values(field)
    if values:
        shown = ", ".join(_code(v) for v in values[:40])
        more = ", …" if len(values) > 40 else ""
        description += f"<br><small>One of: {shown}{more}</small>"
    aliases = field.metadata.get("aliases")
    if aliases:
        names = [aliases] if isinstance(aliases, str) else list(aliases)
        description += f"<br><small>Also: {', '.join(_code(a) for a in names)}</small>"
    return (
        f'<tr id="{anchor_prefix}{field.name}">'
        f"<td>{_code(field.name)}</td>"
        f"<td>{_code(format_type(field.type))}</td>"
        f"<td>{_code(format_default(field))}</td>"
        f"<td>{description}</td></tr>"
    )


def fields_table(fields: list[attrs.Attribute[Any]], anchor_prefix: str = "") -> str:
    """An HTML table (pipes in union types would break a Markdown table)."""
    rows = "\n".join(field_row(f, anchor_prefix) for f in fields)
    return (
        "<table>\n"
        "<thead><tr><th>Field</th><th>Type</th><th>Default</th><th>Description</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody>\n</table>"
    )


def _own_and_inherited(cls: type) -> tuple[list[attrs.Attribute[Any]], list[attrs.Attribute[Any]]]:
    inherited: set[str] = set()
    for base in cls.__mro__[1:]:
        if attrs.has(base):
            inherited |= {f.name for f in attrs.fields(base)}
    fields = init_fields(cls)
    return [f for f in fields if f.name not in inherited], [
        f for f in fields if f.name in inherited
    ]


def class_directive(cls: type) -> str:
    """mkdocstrings directive for the class, its attrs fields filtered out (the table has them)."""
    names = "|".join(re.escape(f.name) for f in attrs.fields(cls))
    path = f"{ARGS_PACKAGE}.{cls.__name__}"
    # TrainingArguments gets its setters and conversions from plain base classes
    # (trainer_args.setters, trainer_args.conversions): they are its own methods to a reader.
    # A subclass of another arguments class lists only what it adds, as before.
    mixed_in = any(base is not object and not attrs.has(base) for base in cls.__bases__)
    return (
        f"::: {path}\n"
        "    options:\n"
        "      show_root_heading: true\n"
        "      heading_level: 3\n"
        "      merge_init_into_class: false\n"
        + ("      inherited_members: true\n" if mixed_in else "")
        + f'      filters: ["!^_", "!^({names})$"]\n'
    )


def render(name: str) -> str:
    """The Markdown that replaces one `args-reference` marker."""
    cls = args_class(name)
    own, inherited = _own_and_inherited(cls)
    fields_count = len(own) + len(inherited)
    parts = [f"## Fields\n\n`{cls.__name__}` has {fields_count} fields.\n"]
    if inherited:
        base = next(b for b in cls.__mro__[1:] if attrs.has(b))
        parts += [
            f"### Fields added by `{cls.__name__}`\n",
            fields_table(own),
            f"\n### Fields inherited from `{base.__name__}`\n",
            fields_table(inherited, anchor_prefix="inherited-"),
        ]
    else:
        parts.append(fields_table(own))
    parts += ["\n## Methods and properties\n", class_directive(cls)]
    return "\n".join(parts) + "\n"


def expand(markdown: str) -> str:
    return MARKER.sub(lambda m: render(m.group(1)), markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return expand(markdown)
