"""`trainer demo lm|seq2seq`, shortened with --max-steps: checkpoints, metrics, table, plot.

The full-length demos run in `nox -s demo`; here each trains a few steps in a subprocess,
exactly as a user would start it (seq2seq: 120, where exact match is between 0 and 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

try:
    import matplotlib.image as matplotlib_image
except ImportError:  # matplotlib is an optional extra: the demo then says how to get it
    matplotlib_image = None


def _demo(kind: str, cwd: Path, *options: str, steps: int = 30) -> subprocess.CompletedProcess[str]:
    # One thread: these tests may share the cores with others; oversubscribed OpenMP
    # threads spin and slow everything down.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "trainer", "demo", kind, "--max-steps", str(steps), *options]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _check_run(out: Path, stdout: str, steps: int = 30) -> dict[str, float]:
    assert (out / f"checkpoint-{steps}" / "trainer_state.json").is_file()
    assert (out / "model.safetensors").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == steps
    assert state["log_history"][0]["step"] == 0  # the evaluation before training
    if matplotlib_image is None:
        assert 'pip install "trainer[plot]"' in stdout
    else:
        pixels = matplotlib_image.imread(out / "training_curves.png")
        assert pixels[..., :3].var() > 1e-3
    assert "before training" in stdout and "after training" in stdout
    return json.loads((out / "all_results.json").read_text())


def test_lm_demo_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "lm"
    result = _demo("lm", tmp_path, "--output-dir", str(out))
    metrics = _check_run(out, result.stdout)
    state = json.loads((out / "trainer_state.json").read_text())
    assert metrics["eval_loss"] < state["log_history"][0]["eval_loss"] - 0.5
    assert "sample (temperature" in result.stdout


LETTERS = "abcdefghij"  # the seq2seq demo's ids: 0 pad, 1 decoder start, 2 eos, 3+ letters


def _reversal_scores(model_file: Path, eval_batch_size: int = 100) -> tuple[float, float]:
    """(exact match, mean loss) of a saved seq2seq demo model on the demo's evaluation strings,
    computed here: greedy generation of 12 ids compared with each string reversed."""
    import torch
    from safetensors.torch import load_file

    from trainer.demos.reverse import ReversedStrings, reverse_model

    model = reverse_model()
    model.load_state_dict(load_file(str(model_file)))
    model.eval()
    texts = ReversedStrings(200, seed=1).texts  # the demo's evaluation split
    hits, losses = 0, []
    for start in range(0, len(texts), eval_batch_size):
        batch = texts[start : start + eval_batch_size]
        width = max(len(text) for text in batch) + 1
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, text in enumerate(batch):
            ids[row, : len(text) + 1] = torch.tensor([3 + LETTERS.index(c) for c in text] + [2])
            target = [3 + LETTERS.index(c) for c in text[::-1]] + [2]
            labels[row, : len(text) + 1] = torch.tensor(target)
        mask = (ids != 0).long()
        with torch.no_grad():
            losses.append(model(input_ids=ids, attention_mask=mask, labels=labels).loss.item())
            generated = model.generate(ids, attention_mask=mask, max_length=12).tolist()
        for text, row in zip(batch, generated):
            tokens = row[1:]  # after the decoder start
            tokens = tokens[: tokens.index(2)] if 2 in tokens else tokens
            hits += "".join(LETTERS[i - 3] for i in tokens if i >= 3) == text[::-1]
    return hits / len(texts), sum(losses) / len(losses)


def test_seq2seq_demo_quick_run_into_the_default_folder(tmp_path: Path) -> None:
    result = _demo("seq2seq", tmp_path, steps=120)
    (out,) = tmp_path.glob("trainer-demo-seq2seq-*")  # a new folder under the cwd
    metrics = _check_run(out, result.stdout, steps=120)
    exact_match, loss = _reversal_scores(out / "model.safetensors")
    assert metrics["eval_exact_match"] == exact_match
    assert metrics["eval_loss"] == pytest.approx(loss, rel=1e-5)
    state = json.loads((out / "trainer_state.json").read_text())
    assert metrics["eval_loss"] < state["log_history"][0]["eval_loss"]
    assert "samples (input -> generated)" in result.stdout
