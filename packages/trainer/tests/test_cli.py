"""The `trainer` command's parsing, `env`, and usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trainer
from trainer.cli import build_parser, main
from trainer.env import environment, format_environment


def test_env_prints_every_layer_python_and_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    for name, version in trainer.versions().items():
        assert f"{name}:" in out and version in out
    for key in ("python:", "platform:", "CUDA devices:", "MPS available:"):
        assert key in out


def test_format_environment_aligns_values() -> None:
    lines = format_environment({"a": "1", "longer": "2"}).splitlines()
    assert lines == ["- a:      1", "- longer: 2"]
    assert "torch" in environment()


def test_demo_options_accept_both_spellings() -> None:
    parser = build_parser()
    first = parser.parse_args(["demo", "seq2seq", "--output-dir", "x", "--max-steps", "3"])
    second = parser.parse_args(["demo", "--output_dir", "x", "--max_steps", "3"])
    assert (first.kind, second.kind) == ("seq2seq", "lm")
    assert str(first.output_dir) == str(second.output_dir) == "x"
    assert first.max_steps == second.max_steps == 3


def test_unknown_demo_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["demo", "vision"])
    assert raised.value.code == 2


def test_extra_arguments_only_for_train() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["env", "--max_steps", "3"])
    assert raised.value.code == 2


def test_python_dash_m_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("train", "demo", "env", "plot"):
        assert command in result.stdout
