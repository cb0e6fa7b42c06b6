"""One truth parser, each library's words: every vocabulary reads text as its library does."""

from __future__ import annotations

from typing import Any

import pytest

from trainer_args.truth import (
    ACCELERATE_ENV,
    ARGPARSE,
    JSON_DICT_STRINGS,
    STRTOBOOL,
    TRANSFORMERS_ENV,
    TruthVocabulary,
    env_flag,
    parse_truth,
)

# Words one library or another accepts, in several cases, plus near misses.
SAMPLES = [
    *("yes", "YES", "Yes", "true", "True", "t", "T", "y", "1", "on", "ON", "On"),
    *("no", "NO", "false", "False", "f", "n", "0", "off", "OFF"),
    *("", " true", "true ", "2", "yep", "nope", "none", "None"),
]


def _reference(function: Any, text: str) -> bool | None:
    """A reference parser's answer, None where it raises."""
    try:
        return bool(function(text))
    except Exception:  # ValueError, or argparse.ArgumentTypeError
        return None


@pytest.mark.reference
@pytest.mark.parametrize("text", SAMPLES)
def test_argparse_words_are_hfargumentparsers(text: str, hf: Any) -> None:
    from transformers.hf_argparser import string_to_bool

    assert parse_truth(text, ARGPARSE) == _reference(string_to_bool, text)


@pytest.mark.reference
@pytest.mark.parametrize("text", SAMPLES)
def test_strtobool_words_are_transformers_strtobool(text: str, hf: Any) -> None:
    from transformers.utils import strtobool

    assert parse_truth(text, STRTOBOOL) == _reference(strtobool, text)


@pytest.mark.reference
@pytest.mark.parametrize("text", SAMPLES)
def test_transformers_env_words_are_its_env_true_values(text: str, hf: Any) -> None:
    from transformers.utils.import_utils import ENV_VARS_TRUE_VALUES

    assert (parse_truth(text, TRANSFORMERS_ENV) is True) == (text.upper() in ENV_VARS_TRUE_VALUES)


@pytest.mark.reference
@pytest.mark.parametrize("text", SAMPLES)
def test_json_dict_strings_are_convert_str_dicts(text: str, hf: Any) -> None:
    from transformers.training_args import _convert_str_dict

    converted = _convert_str_dict({"key": text})["key"]
    expected = converted if isinstance(converted, bool) else None
    assert parse_truth(text, JSON_DICT_STRINGS) == expected


def test_vocabularies_differ_where_the_libraries_do() -> None:
    assert parse_truth("on", STRTOBOOL) is True and parse_truth("on", ARGPARSE) is None
    assert parse_truth("t", ARGPARSE) is True and parse_truth("t", TRANSFORMERS_ENV) is None
    assert parse_truth("y", ACCELERATE_ENV) is True and parse_truth("y", TRANSFORMERS_ENV) is None


def test_a_non_string_fails_as_in_the_libraries() -> None:
    with pytest.raises(AttributeError):
        parse_truth(1, ARGPARSE)  # type: ignore[arg-type]


def test_words_and_pairs_keep_the_declared_order() -> None:
    vocabulary = TruthVocabulary(true=("a", "b"), false=("c", "d"))
    assert vocabulary.words == ["a", "b", "c", "d"]
    assert vocabulary.pairs() == "a/c, b/d"
    assert ARGPARSE.pairs() == "yes/no, true/false, t/f, y/n, 1/0"


@pytest.mark.parametrize(
    ("value", "strip", "expected"),
    [
        (None, False, False),
        ("", False, False),
        ("1", False, True),
        ("On", False, True),
        ("t", False, False),
        (" yes ", False, False),
        (" yes ", True, True),
        ("banana", True, False),
    ],
)
def test_env_flag(
    monkeypatch: pytest.MonkeyPatch, value: str | None, strip: bool, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("TRAINER_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("TRAINER_TEST_FLAG", value)
    assert env_flag("TRAINER_TEST_FLAG", ACCELERATE_ENV, strip=strip) is expected
