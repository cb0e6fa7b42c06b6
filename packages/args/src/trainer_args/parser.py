"""`ArgumentParser`: CLI flags from attrs classes or dataclasses, as transformers' HfArgumentParser.

Each field gets `--name` (and `--name-with-dashes`), its help string, and a type/choices/
nargs derived from its annotation exactly as HfArgumentParser derives them, so the same
argv gives the same objects. Bad values on the command line are argparse usage errors
(exit 2); bad values from dicts and files raise `ValidationError`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Iterable
from enum import Enum
from inspect import isclass
from pathlib import Path
from typing import Any, Literal, Union

from trainer_args.errors import FieldError, ValidationError, closest
from trainer_args.fields import init_fields
from trainer_args.truth import ARGPARSE, parse_truth

__all__ = ["ArgumentParser", "ArgumentSpec", "make_choice_type_function", "string_to_bool"]

MISSING: Any = dataclasses.MISSING
_PRIVATE_PREFIX = "trainer_args."
_SPEC_CACHE: dict[type, list[ArgumentSpec]] = {}


def string_to_bool(v: str | bool) -> bool:
    """yes/no, true/false, t/f, y/n, 1/0 in any case; anything else is an argparse type error."""
    if isinstance(v, bool):
        return v
    value = parse_truth(v, ARGPARSE)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"Truthy value expected: got {v} but expected one of {ARGPARSE.pairs()} (case insensitive)."
        )
    return value


def make_choice_type_function(choices: Iterable[Any]) -> Callable[[str], Any]:
    """Map each choice's string form back to the choice itself (so "1" gives the int 1)."""
    str_to_choice = {str(choice): choice for choice in choices}
    return lambda arg: str_to_choice.get(arg, arg)


@dataclasses.dataclass
class ArgumentSpec:
    """What the parser needs to know about one field, from attrs or dataclasses alike."""

    name: str
    type: Any
    # dataclasses.MISSING cannot be a dataclass default itself, hence the factories.
    default: Any = dataclasses.field(default_factory=lambda: MISSING)
    default_factory: Any = dataclasses.field(default_factory=lambda: MISSING)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


def argument_specs(cls: type) -> list[ArgumentSpec]:
    """The init fields of an attrs class or dataclass, with resolved annotations (cached per class).

    A `@dataclass` or `@attrs.define` subclass of `TrainingArguments` gives ours, then its own.
    """
    if cls not in _SPEC_CACHE:
        _SPEC_CACHE[cls] = _argument_specs(cls)
    return _SPEC_CACHE[cls]


def _argument_specs(cls: type) -> list[ArgumentSpec]:
    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise RuntimeError(
            f"Type resolution failed for {cls}. Declare the class at module level, or drop "
            "`from __future__ import annotations` from its module."
        ) from exc
    return [
        ArgumentSpec(
            f.name, hints.get(f.name, f.type), f.default, f.default_factory, dict(f.metadata)
        )
        for f in init_fields(cls)
    ]


def _is_union(tp: Any) -> bool:
    origin = getattr(tp, "__origin__", tp)
    return origin is Union or isinstance(origin, types.UnionType) or isinstance(tp, types.UnionType)


def _reduce_union(spec: ArgumentSpec) -> Any:
    """The one type a union field parses as, by HfArgumentParser's rules."""
    members = spec.type.__args__
    if str not in members and (len(members) != 2 or type(None) not in members):
        raise ValueError(
            "Only `Union[X, NoneType]` (i.e., `Optional[X]`) is allowed for `Union` because the argument "
            f"parser only supports one type per argument. Problem encountered in field '{spec.name}'."
        )
    if type(None) not in members:
        return members[0] if members[1] is str else members[1]
    if bool not in members:
        return members[0] if isinstance(None, members[1]) else members[1]
    return spec.type


def _is_bool(tp: Any) -> bool:
    return tp is bool or tp == (bool | None)


def _default_kwargs(spec: ArgumentSpec, kwargs: dict[str, Any]) -> None:
    if spec.default is not MISSING:
        kwargs["default"] = spec.default
    elif spec.default_factory is not MISSING:
        kwargs["default"] = spec.default_factory()
    else:
        kwargs["required"] = True


def _type_kwargs(spec: ArgumentSpec, tp: Any, kwargs: dict[str, Any]) -> None:
    origin = getattr(tp, "__origin__", tp)
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        kwargs["choices"] = tp.__args__ if origin is Literal else [m.value for m in tp]
        kwargs["type"] = make_choice_type_function(kwargs["choices"])
        if spec.default is not MISSING:
            kwargs["default"] = spec.default
        else:
            kwargs["required"] = True
    elif _is_bool(tp):
        kwargs["type"] = string_to_bool
        if tp is bool or (spec.default is not None and spec.default is not MISSING):
            kwargs["default"] = False if spec.default is MISSING else spec.default
            kwargs["nargs"] = "?"
            kwargs["const"] = True
    elif isclass(origin) and issubclass(origin, list):
        kwargs["type"] = tp.__args__[0]
        kwargs["nargs"] = "+"
        if spec.default_factory is not MISSING:
            kwargs["default"] = spec.default_factory()
        elif spec.default is MISSING:
            kwargs["required"] = True
    else:
        if tp is not Any:
            kwargs["type"] = tp
        _default_kwargs(spec, kwargs)


def add_field_argument(parser: Any, spec: ArgumentSpec) -> None:
    """Add `--name`, `--name-with-dashes`, aliases and, for True-default bools, `--no_name`."""
    options = [f"--{spec.name}"]
    if "_" in spec.name:
        options.append(f"--{spec.name.replace('_', '-')}")
    kwargs = {k: v for k, v in spec.metadata.items() if not k.startswith(_PRIVATE_PREFIX)}
    aliases = kwargs.pop("aliases", [])
    aliases = [aliases] if isinstance(aliases, str) else list(aliases)
    tp = _reduce_union(spec) if _is_union(spec.type) else spec.type
    bool_kwargs = dict(kwargs)
    _type_kwargs(spec, tp, kwargs)
    parser.add_argument(*options, *aliases, **kwargs)
    # The complement must come after the main flag: both write the same dest.
    if spec.default is True and _is_bool(tp):
        parser.add_argument(
            f"--no_{spec.name}",
            f"--no-{spec.name.replace('_', '-')}",
            action="store_false",
            dest=spec.name,
            **{**bool_kwargs, "default": False},
        )


class ArgumentParser(argparse.ArgumentParser):
    """A command-line parser built from attrs classes or dataclasses, like HfArgumentParser.

    Each field becomes a `--name` flag (also spelt `--name-with-dashes`) with its help text
    and default; booleans that default to True also get `--no_name`. The `parse_*` methods
    return one instance per class, in the order the classes were given.

    Args:
        dataclass_types: One class, or several, whose fields become flags.
        **kwargs: Passed on to `argparse.ArgumentParser`; by default `--help` shows each
            flag's default.
    """

    def __init__(self, dataclass_types: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)
        if dataclass_types is None:
            dataclass_types = []
        elif isinstance(dataclass_types, type) or not isinstance(dataclass_types, Iterable):
            dataclass_types = [dataclass_types]
        self.dataclass_types: list[type] = list(dataclass_types)
        for dtype in self.dataclass_types:
            self._add_dataclass_arguments(dtype)

    def _add_dataclass_arguments(self, dtype: type) -> None:
        group_name = getattr(dtype, "_argument_group_name", None)
        target: Any = self.add_argument_group(group_name) if group_name else self
        for spec in argument_specs(dtype):
            add_field_argument(target, spec)

    # ------------------------------------------------------------ argv
    def _args_files(
        self, args: list[str] | None, look: bool, filename: Any, flag: str | None
    ) -> tuple[list[str], list[str] | None]:
        files: list[Path] = []
        if filename:
            files.append(Path(filename))
        elif look and len(sys.argv):
            files.append(Path(sys.argv[0]).with_suffix(".args"))
        if flag:
            flag_parser = argparse.ArgumentParser()
            flag_parser.add_argument(flag, type=str, action="append")
            cfg, args = flag_parser.parse_known_args(args=args)
            files += [Path(p) for p in vars(cfg).get(flag.lstrip("-")) or []]
        file_args: list[str] = []
        for path in files:
            if path.exists():
                file_args += path.read_text().split()
        return file_args, args

    def parse_args_into_dataclasses(
        self,
        args: list[str] | None = None,
        return_remaining_strings: bool = False,
        look_for_args_file: bool = True,
        args_filename: str | os.PathLike[str] | None = None,
        args_file_flag: str | None = None,
    ) -> tuple[Any, ...]:
        """Parse command-line arguments into one instance per class.

        Arguments read from files come first, so the command line wins over them: the file
        `args_filename`, else `<script>.args` beside the running script when
        `look_for_args_file`, plus every file named with the `args_file_flag` flag. Files
        that do not exist are skipped.

        Args:
            args: The arguments to parse; default `sys.argv[1:]`.
            return_remaining_strings: Return the arguments no flag took, instead of raising.
            look_for_args_file: Read `<script>.args` when it exists.
            args_filename: A file of arguments to read first (whitespace separated).
            args_file_flag: A flag, such as `"--args_file"`, naming more argument files.

        Returns:
            The instances, in class order; then an `argparse.Namespace` of the arguments
            added to the parser directly, if any; then the list of remaining strings when
            `return_remaining_strings`.

        Raises:
            ValidationError: Some arguments were not used (and `return_remaining_strings` is
                False); the message suggests the closest known flag.
        """
        if args_file_flag or args_filename or (look_for_args_file and len(sys.argv)):
            file_args, args = self._args_files(
                args, look_for_args_file, args_filename, args_file_flag
            )
            # Explicit CLI args come last so that they win.
            args = file_args + (args if args is not None else sys.argv[1:])
        namespace, remaining = self.parse_known_args(args=args)
        outputs: list[Any] = []
        for dtype in self.dataclass_types:
            keys = {spec.name for spec in argument_specs(dtype)}
            inputs = {k: v for k, v in vars(namespace).items() if k in keys}
            for key in keys:
                delattr(namespace, key)
            outputs.append(dtype(**inputs))
        if vars(namespace):
            outputs.append(namespace)
        if return_remaining_strings:
            return (*outputs, remaining)
        if remaining:
            raise self._unused_error(remaining)
        return tuple(outputs)

    def _unused_error(self, remaining: list[str]) -> ValidationError:
        options = [s for action in self._actions for s in action.option_strings]
        message = f"Some specified arguments are not used by the HfArgumentParser: {remaining}"
        flags = [r for r in remaining if r.startswith("-")] or remaining
        suggestion = closest(flags[0].split("=")[0], options)
        return ValidationError(FieldError("argv", remaining, message, suggestion=suggestion))

    # ------------------------------------------------------ dicts, files
    def parse_dict(self, args: dict[str, Any], allow_extra_keys: bool = False) -> tuple[Any, ...]:
        """One instance per class from a dict of field values, without argparse.

        Each class takes the keys that name its fields. Values that spell a number or a
        boolean (`"5e-5"`, `"true"`) are converted to the field's type first.

        Raises:
            ValidationError: `args` is not a dict, or has keys no class has a field for (unless
                `allow_extra_keys`); the message suggests the closest field name.
        """
        from trainer_args.serialization import coerce
        from trainer_args.validation import field_types

        if not isinstance(args, dict):
            raise ValidationError.for_field(
                "args", args, "expected a mapping of argument names to values"
            )
        unused = set(args)
        outputs = []
        for dtype in self.dataclass_types:
            specs = {spec.name: spec for spec in argument_specs(dtype)}
            types_ = field_types(dtype)
            inputs = {k: coerce(v, types_.get(k, Any)) for k, v in args.items() if k in specs}
            unused.difference_update(inputs)
            outputs.append(dtype(**inputs))
        if not allow_extra_keys and unused:
            raise self._unused_keys_error(sorted(unused, key=str))
        return tuple(outputs)

    def _unused_keys_error(self, unused: list[Any]) -> ValidationError:
        known = [spec.name for dtype in self.dataclass_types for spec in argument_specs(dtype)]
        message = f"Some keys are not used by the HfArgumentParser: {unused}"
        errors = [
            FieldError(str(key), key, message, suggestion=closest(key, known)) for key in unused
        ]
        return ValidationError(errors[:1] if len(errors) == 1 else errors)

    def parse_json_file(
        self, json_file: str | os.PathLike[str], allow_extra_keys: bool = False
    ) -> tuple[Any, ...]:
        """One instance per class from a JSON file holding an object, as `parse_dict` does.

        Raises:
            ValidationError: The file cannot be read or parsed, holds no JSON object, or has
                keys no class has a field for (unless `allow_extra_keys`).
        """
        from trainer_args.serialization import load_json

        return self.parse_dict(load_json(json_file), allow_extra_keys=allow_extra_keys)

    def parse_yaml_file(
        self, yaml_file: str | os.PathLike[str], allow_extra_keys: bool = False
    ) -> tuple[Any, ...]:
        """One instance per class from a YAML file holding a mapping, as `parse_dict` does.

        Needs PyYAML (`pip install "trainer-args[yaml]"`); the file is read with
        `yaml.safe_load`, so it cannot build arbitrary Python objects.

        Raises:
            ValidationError: The file cannot be read or parsed, holds no mapping, or has keys
                no class has a field for (unless `allow_extra_keys`).
        """
        from trainer_args.serialization import load_yaml

        return self.parse_dict(load_yaml(yaml_file), allow_extra_keys=allow_extra_keys)

    def parse_overrides(self, args: list[str]) -> dict[str, Any]:
        """Only the fields given in `args`, converted as on the command line (for config merging)."""
        self._reject_unknown_flags(args)
        saved = {action: action.default for action in self._actions}
        try:
            for action in self._actions:
                action.default = argparse.SUPPRESS
            namespace = self.parse_args(args)
        finally:
            for action, default in saved.items():
                action.default = default
        return dict(vars(namespace))

    def _reject_unknown_flags(self, args: list[str]) -> None:
        """A usage error (exit 2) naming the closest known flag for a misspelt one."""
        options = [s for action in self._actions for s in action.option_strings]
        for token in args:
            flag = token.split("=", 1)[0]
            if flag.startswith("--") and flag not in options:
                hint = closest(flag, options)
                self.error(
                    f"unrecognized argument {flag}" + (f"; did you mean {hint}?" if hint else "")
                )
