"""The tutorial scripts in examples/ (transformers' tutorials with the import swapped) give
the same numbers with `trainer` as with `transformers`, and save loadable models."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from support.accelerate_state import reset_accelerate

pytestmark = pytest.mark.reference

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_example(
    output_dir: Path,
    reference: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    name: str = "text_classification.py",
) -> dict[str, Any]:
    script = str(EXAMPLES / name)
    argv = [script, "--output_dir", str(output_dir)] + (["--reference"] if reference else [])
    monkeypatch.setattr(sys, "argv", argv)
    reset_accelerate()
    capsys.readouterr()
    runpy.run_path(script, run_name="__main__")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1
    return json.loads(lines[0][len("RESULT ") :])  # type: ignore[no-any-return]


def test_example_gives_the_same_numbers_with_both_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    ours = _run_example(tmp_path / "ours", False, monkeypatch, capsys)
    reference = _run_example(tmp_path / "reference", True, monkeypatch, capsys)

    assert ours["global_step"] == reference["global_step"] == 15
    assert ours["best_checkpoint"] == reference["best_checkpoint"]
    assert ours["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-5)
    assert ours["eval_losses"] == pytest.approx(reference["eval_losses"], rel=1e-5)
    assert sorted(ours["eval"]) == sorted(reference["eval"])
    for key, value in reference["eval"].items():
        assert ours["eval"][key] == pytest.approx(value, rel=1e-5), key
    assert reference["eval"]["eval_accuracy"] > 0.5  # it learned something

    saved = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "ours")
    expected = transformers.AutoModelForSequenceClassification.from_pretrained(
        tmp_path / "reference"
    )
    assert saved.config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}
    for key, value in expected.state_dict().items():
        torch.testing.assert_close(saved.state_dict()[key], value, rtol=1e-5, atol=1e-7)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    assert tokenizer("the movie was great")["input_ids"][0] == tokenizer.cls_token_id


def test_language_modeling_example_gives_the_same_numbers_with_both_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    name = "language_modeling.py"
    ours = _run_example(tmp_path / "ours", False, monkeypatch, capsys, name)
    reference = _run_example(tmp_path / "reference", True, monkeypatch, capsys, name)
    assert ours["global_step"] == reference["global_step"]
    assert ours["losses"] == pytest.approx(reference["losses"], rel=1e-5)
    assert ours["eval_losses"] == pytest.approx(reference["eval_losses"], rel=1e-5)
    assert ours["perplexity"] == pytest.approx(reference["perplexity"], rel=1e-5)
    assert reference["losses"][-1] < reference["losses"][0]

    saved = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "ours")
    expected = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "reference")
    for key, value in expected.state_dict().items():
        torch.testing.assert_close(saved.state_dict()[key], value, rtol=1e-5, atol=1e-7)
