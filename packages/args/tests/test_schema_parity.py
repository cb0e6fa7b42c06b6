"""Every field: same name, order, annotation (normalised), default and parser metadata as transformers."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any

import attrs
import pytest

from trainer_args import Seq2SeqTrainingArguments, TrainingArguments
from trainer_args.fields import arg_fields

# Classes we cannot import without torch/accelerate: both sides spell them "Any".
_OPAQUE = {"ParallelismConfig", "GenerationConfig"}


def norm(tp: Any) -> str:
    """A spelling of an annotation that is the same for equal types from either package."""
    if tp is Any:
        return "Any"
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return "Union[" + ", ".join(norm(a) for a in typing.get_args(tp)) + "]"
    if origin is typing.Literal:
        return f"Literal{list(typing.get_args(tp))!r}"
    if origin is not None:
        return f"{origin.__name__}[" + ", ".join(norm(a) for a in typing.get_args(tp)) + "]"
    name = getattr(tp, "__name__", str(tp))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return f"{name}{[m.value for m in tp]}"
    return "Any" if name in _OPAQUE else name


def _ours(cls: type) -> list[tuple[str, str, Any, dict[str, Any]]]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in arg_fields(cls):
        default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default  # type: ignore[arg-type]
        extras = {
            k: list(v) if k == "choices" else v
            for k, v in f.metadata.items()
            if k in ("choices", "nargs", "const")
        }
        rows.append((f.name, norm(hints[f.name]), default, extras))
    return rows


def _theirs(cls: type) -> list[tuple[str, str, Any, dict[str, Any]]]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
        extras = {
            k: list(v) if k == "choices" else v
            for k, v in f.metadata.items()
            if k in ("choices", "nargs", "const")
        }
        rows.append((f.name, norm(hints[f.name]), default, extras))
    return rows


@pytest.mark.reference
@pytest.mark.parametrize(
    ("ours", "name"),
    [
        (TrainingArguments, "TrainingArguments"),
        (Seq2SeqTrainingArguments, "Seq2SeqTrainingArguments"),
    ],
)
def test_fields_match_transformers(hf: Any, ours: type, name: str) -> None:
    theirs = _theirs(getattr(hf, name))
    mine = _ours(ours)
    assert [r[0] for r in mine] == [r[0] for r in theirs], "names or order differ"
    for row, ref in zip(mine, theirs):
        assert row[1] == ref[1], f"{row[0]}: type {row[1]} != {ref[1]}"
        assert row[2] == ref[2] and type(row[2]) is type(ref[2]), (
            f"{row[0]}: default {row[2]!r} != {ref[2]!r}"
        )
        assert row[3] == ref[3], f"{row[0]}: parser metadata {row[3]} != {ref[3]}"


def test_field_counts() -> None:
    assert len(arg_fields(TrainingArguments)) == 114
    assert len(arg_fields(Seq2SeqTrainingArguments)) == 119


@pytest.mark.parametrize("field", arg_fields(Seq2SeqTrainingArguments), ids=lambda f: f.name)
def test_every_field_has_a_one_line_help(field: attrs.Attribute) -> None:  # type: ignore[type-arg]
    text = field.metadata["help"]
    assert text and "\n" not in text and "%" not in text


def test_private_fields_stay_out_of_init_and_dict() -> None:
    args = TrainingArguments()
    names = {f.name for f in attrs.fields(TrainingArguments) if not f.init}
    assert {"_device_setup", "_n_gpu", "mixed_precision", "fsdp_plugin_args"} <= names
    assert not names & set(args.to_dict())
    with pytest.raises(TypeError):
        TrainingArguments(_device_setup=1)  # type: ignore[call-arg]


def test_removed_4x_names_are_rejected() -> None:
    for name in (
        "warmup_ratio",
        "evaluation_strategy",
        "group_by_length",
        "logging_dir",
        "no_cuda",
    ):
        with pytest.raises(TypeError):
            TrainingArguments(**{name: 1})
