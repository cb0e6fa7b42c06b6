"""Random dicts, strings and argv: only ValidationError (or an argparse usage exit) may escape."""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer_args import (
    ArgumentParser,
    Seq2SeqTrainingArguments,
    TrainingArguments,
    ValidationError,
)
from trainer_args.cli import file_errors
from trainer_args.enums import IntervalStrategy, OptimizerNames, SaveStrategy, SchedulerType
from trainer_args.fields import arg_fields

NAMES = [f.name for f in arg_fields(Seq2SeqTrainingArguments)]
WORDS = [
    *[
        m.value
        for enum in (IntervalStrategy, SaveStrategy, SchedulerType, OptimizerNames)
        for m in enum
    ],
    "none",
    "all",
    "true",
    "False",
    "full_shard offload",
    "hybrid_shard",
    "underflow_overflow",
    "non_padding",
    '{"a": "1", "b": {"c": "true"}}',
    "{broken",
    "5e-5",
    "1.5",
    "-3",
    "",
    "~/x",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(NAMES), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(NAMES) | st.text(max_size=15)
DICTS = st.dictionaries(KEYS, VALUES, max_size=8)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def _parser(cls: type) -> ArgumentParser:
    return ArgumentParser(cls)


def _quietly(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@FUZZ
@given(data=DICTS, allow_unknown=st.booleans())
def test_from_dict_raises_only_validation_error(data: dict[str, Any], allow_unknown: bool) -> None:
    try:
        args = _quietly(TrainingArguments.from_dict, data, allow_unknown=allow_unknown)
    except ValidationError as exc:
        assert exc.errors and str(exc)
        return
    # Whatever was accepted round-trips, but for tokens: to_dict() masks them, and a masked
    # token comes back as the field's default (it carries no token).
    masked = {
        f.name: f.default
        for f in attrs.fields(TrainingArguments)
        if f.init and f.name.endswith("_token") and getattr(args, f.name) != f.default
    }
    expected = _quietly(attrs.evolve, args, **masked) if masked else args
    assert _quietly(TrainingArguments.from_dict, args.to_dict()) == expected


@FUZZ
@given(data=DICTS, allow_extra=st.booleans())
def test_parse_dict_raises_only_validation_error(data: dict[str, Any], allow_extra: bool) -> None:
    with contextlib.suppress(ValidationError):
        _quietly(_parser(Seq2SeqTrainingArguments).parse_dict, data, allow_extra_keys=allow_extra)


@settings(max_examples=60, deadline=None)
@given(data=DICTS)
def test_validate_path_reports_instead_of_crashing(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "args.json"
        path.write_text(json.dumps(data))
        errors = _quietly(file_errors, TrainingArguments, str(path))
    assert all(str(e) for e in errors)


ARGV = st.lists(
    st.sampled_from(["--" + n for n in NAMES]) | st.sampled_from(WORDS) | st.text(max_size=6),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(argv=ARGV)
def test_argv_gives_usage_errors_or_validation_errors(argv: list[str]) -> None:
    try:
        _quietly(
            _parser(TrainingArguments).parse_args_into_dataclasses, argv, look_for_args_file=False
        )
    except ValidationError:
        pass
    except SystemExit as exc:
        assert exc.code == 2


@pytest.fixture(autouse=True)
def _silence_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse prints usage errors to stderr; keep them out of the test output."""
