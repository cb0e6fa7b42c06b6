"""The `trainer-args` console script: show, validate, schema, diff; exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer_args.cli import main


def _write(path: Path, data: dict[str, object]) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_show_defaults_and_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "show",
                "--learning_rate",
                "1e-4",
                "--eval_strategy",
                "steps",
                "--no_remove_unused_columns",
            ]
        )
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert (
        shown["learning_rate"] == 1e-4
        and shown["eval_steps"] == 500
        and shown["remove_unused_columns"] is False
    )
    assert next(iter(shown)) == "output_dir" and len(shown) == 114


def test_show_file_merged_with_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "a.json", {"seed": 1, "learning_rate": 0.1})
    assert main(["show", path, "--seed", "2", "--seq2seq"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["seed"], shown["learning_rate"], shown["predict_with_generate"]) == (
        2,
        0.1,
        False,
    )


def test_show_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    yaml = pytest.importorskip("yaml")
    assert main(["show", "--format", "yaml", "--seed", "5"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["seed"] == 5


def test_show_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--lerning_rate", "1"]) == 2
    assert "did you mean --learning_rate" in capsys.readouterr().err
    assert main(["show", "--eval_strategy", "sometimes"]) == 2
    assert main(["shwo"]) == 2
    assert "did you mean 'show'" in capsys.readouterr().err
    assert main([]) == 2


def test_show_invalid_combination(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "--fp16", "--bf16"]) == 1
    assert "At most one of fp16 and bf16" in capsys.readouterr().err


def test_validate_lists_all_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(tmp_path / "good.json", {"seed": 3})
    bad = _write(tmp_path / "bad.json", {"learning_rat": 1, "eval_strategy": "stesp", "seed": "x"})
    assert main(["validate", good]) == 0
    assert "good.json: ok" in capsys.readouterr().out
    assert main(["validate", good, bad]) == 1
    err = capsys.readouterr().err
    for text in (
        "learning_rat=1: unknown argument; did you mean 'learning_rate'",
        "eval_strategy='stesp'",
        "seed='x'",
    ):
        assert text in err
    assert err.count("bad.json: ") == 3


def test_validate_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("{")
    assert main(["validate", str(tmp_path / "x.json"), str(tmp_path / "missing.yaml")]) == 1
    assert main(["validate"]) == 2


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--seq2seq"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "predict_with_generate" in schema["properties"]


def test_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a.json", {"seed": 1})
    b = _write(tmp_path / "b.json", {"seed": 2, "eval_strategy": "epoch"})
    assert main(["diff", a, a]) == 0
    assert main(["diff", a, b]) == 1
    out = capsys.readouterr().out
    assert (
        "seed: 1 -> 2" in out
        and "eval_strategy: 'no' -> 'epoch'" in out
        and "do_eval: False -> True" in out
    )


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "trainer-args validate" in capsys.readouterr().out
    assert main(["validate", "--help"]) == 0


def test_python_dash_m(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", {"seed": "x"})
    result = subprocess.run(
        [sys.executable, "-m", "trainer_args", "validate", path], capture_output=True, text=True
    )
    assert result.returncode == 1 and "seed='x': expected int" in result.stderr
