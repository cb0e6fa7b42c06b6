"""`trainer train` under torchrun, unchanged: two CPU processes (gloo), one report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "classifier" / "job.yaml"
TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which(
    "torchrun"
)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")
def test_torchrun_two_processes_only_rank_zero_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [
        str(TORCHRUN), "--standalone", "--nproc_per_node", "2",
        "-m", "trainer", "train", str(EXAMPLE),
        "--max_steps", "10", "--eval_steps", "5", "--save_steps", "5", "--logging_steps", "5",
        "--output_dir", str(out),
        # no --use_cpu: on a machine without an accelerator the processes still form one job
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("***** train metrics *****") == 1
    assert result.stdout.count("***** eval metrics *****") == 1
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 10
    # two processes x 64 examples per step: 10 steps see 1280 of the 2000 examples
    assert state["epoch"] == pytest.approx(1280 / 2000, abs=0.02)
    assert (out / "checkpoint-10" / "rng_state_1.safetensors").is_file()
