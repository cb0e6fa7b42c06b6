"""`trainer demo lm|seq2seq`, shortened with --max-steps: checkpoints, metrics, table, plot.

The full-length demos run in `nox -s demo`; here each trains 30 steps in a subprocess,
exactly as a user would start it.
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


def _demo(kind: str, cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # One thread: these tests may share the cores with others; oversubscribed OpenMP
    # threads spin and slow everything down.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "trainer", "demo", kind, "--max-steps", "30", *options]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _check_run(out: Path, stdout: str) -> dict[str, float]:
    assert (out / "checkpoint-30" / "trainer_state.json").is_file()
    assert (out / "model.safetensors").is_file()
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 30
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


def test_seq2seq_demo_quick_run_into_the_default_folder(tmp_path: Path) -> None:
    result = _demo("seq2seq", tmp_path)
    (out,) = tmp_path.glob("trainer-demo-seq2seq-*")  # a new folder under the cwd
    metrics = _check_run(out, result.stdout)
    assert 0.0 <= metrics["eval_exact_match"] <= 1.0
    state = json.loads((out / "trainer_state.json").read_text())
    assert metrics["eval_loss"] < state["log_history"][0]["eval_loss"]
    assert "samples (input -> generated)" in result.stdout
