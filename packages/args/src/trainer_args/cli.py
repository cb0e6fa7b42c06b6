"""`trainer-args`: show, validate, diff and describe training arguments without torch.

    trainer-args show [FILE] [--format json|yaml] [--seq2seq] [--field value ...]
    trainer-args validate FILE [FILE ...] [--seq2seq]
    trainer-args schema [--seq2seq]
    trainer-args diff A B [--seq2seq]

Every command also takes `--class MODULE:NAME`: a subclass of TrainingArguments (such as
the `@dataclass` one of a train.py) whose own fields are then shown, checked and described.

Exit codes: 0 success (or no difference), 1 invalid arguments (or a difference), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from trainer_args.errors import FieldError, ValidationError, closest
from trainer_args.seq2seq_args import Seq2SeqTrainingArguments
from trainer_args.training_args import TrainingArguments

__all__ = ["main"]

COMMANDS = ("show", "validate", "schema", "diff")


def _classes(options: argparse.Namespace) -> type[TrainingArguments]:
    if options.class_path is not None:
        return load_class(options.class_path)
    return Seq2SeqTrainingArguments if options.seq2seq else TrainingArguments


def load_class(path: str) -> type[TrainingArguments]:
    """The class named by `MODULE:NAME` (modules in the current folder are found too).

    Raises:
        ValidationError: the spelling, the import or the attribute fails, or the object is
            not a subclass of TrainingArguments.
    """
    import importlib

    module_name, _, name = path.partition(":")
    if not module_name or not name:
        raise ValidationError.for_field("--class", path, "expected MODULE:NAME, e.g. train:MyArgs")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: a script's module is importable
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ValidationError.for_field("--class", path, f"cannot import it: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, TrainingArguments)):
        raise ValidationError.for_field("--class", path, "is not a subclass of TrainingArguments")
    return obj


def _parser(command: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"trainer-args {command}", description=description)
    parser.add_argument("--seq2seq", action="store_true", help="use Seq2SeqTrainingArguments")
    parser.add_argument(
        "--class",
        dest="class_path",
        metavar="MODULE:NAME",
        help="use this TrainingArguments subclass (its own fields included)",
    )
    return parser


def _print_errors(errors: Sequence[FieldError], prefix: str = "") -> None:
    for error in errors:
        print(f"{prefix}{error}", file=sys.stderr)


def _dump(data: dict[str, Any], fmt: str) -> str:
    if fmt == "yaml":
        from trainer_args.serialization import dump_yaml

        return dump_yaml(data)
    return json.dumps(data, indent=2)


def _show(argv: list[str]) -> int:
    parser = _parser("show", "Print arguments: defaults or FILE, with --field value overrides.")
    parser.add_argument("--format", choices=["json", "yaml"], default="json", help="output format")
    options, rest = parser.parse_known_args(argv)
    path = rest.pop(0) if rest and not rest[0].startswith("-") else None
    cls = _classes(options)
    from trainer_args.parser import ArgumentParser
    from trainer_args.serialization import from_dict, load_file

    usage = "trainer-args show [FILE] [--format json|yaml] [--seq2seq] [--FIELD VALUE ...]"
    overrides = ArgumentParser(cls, prog="trainer-args show", usage=usage).parse_overrides(rest)
    data = {**(load_file(path) if path else {}), **overrides}
    print(
        _dump(from_dict(cls, data).to_dict(), options.format),
        end="" if options.format == "yaml" else "\n",
    )
    return 0


def file_errors(cls: type[TrainingArguments], path: str) -> list[FieldError]:
    """Every problem found in one arguments file (unknown keys and invalid values together)."""
    from trainer_args.serialization import from_dict, load_file, unknown_key_errors

    try:
        data = load_file(path)
    except ValidationError as exc:
        return exc.errors
    errors = unknown_key_errors(cls, data)
    try:
        from_dict(cls, data, allow_unknown=True)
    except ValidationError as exc:
        errors += exc.errors
    return errors


def _validate(argv: list[str]) -> int:
    parser = _parser("validate", "Check argument files; list every error with its field.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="JSON or YAML files")
    options = parser.parse_args(argv)
    failed = False
    for path in options.files:
        errors = file_errors(_classes(options), path)
        failed = failed or bool(errors)
        _print_errors(errors, prefix=f"{path}: ")
        if not errors:
            print(f"{path}: ok")
    return 1 if failed else 0


def _schema(argv: list[str]) -> int:
    options = _parser("schema", "Print the JSON Schema of the arguments.").parse_args(argv)
    from trainer_args.schema import json_schema

    print(json.dumps(json_schema(_classes(options)), indent=2))
    return 0


def _diff(argv: list[str]) -> int:
    parser = _parser("diff", "List the fields whose values differ between two argument files.")
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    options = parser.parse_args(argv)
    cls = _classes(options)
    first, second = (
        cls.from_dict(_load(options.a)).to_dict(),
        cls.from_dict(_load(options.b)).to_dict(),
    )
    changed = [k for k in first if first[k] != second[k]]
    for key in changed:
        print(f"{key}: {first[key]!r} -> {second[key]!r}")
    return 1 if changed else 0


def _load(path: str) -> dict[str, Any]:
    from trainer_args.serialization import load_file

    return load_file(path)


HANDLERS: dict[str, Callable[[list[str]], int]] = {
    "show": _show,
    "validate": _validate,
    "schema": _schema,
    "diff": _diff,
}


def _usage() -> str:
    return (__doc__ or "").strip()


def _run(command: str, rest: list[str]) -> int:
    try:
        return HANDLERS[command](rest)
    except ValidationError as exc:
        _print_errors(exc.errors, prefix="error: ")
        return 1
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainer-args` console script; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] not in HANDLERS:
        hint = closest(args[0], COMMANDS)
        suggestion = f"; did you mean {hint!r}?" if hint else ""
        print(
            f"trainer-args: error: unknown command {args[0]!r}{suggestion}\n\n{_usage()}",
            file=sys.stderr,
        )
        return 2
    try:
        return _run(args[0], args[1:])
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return int(exc.code or 0)
