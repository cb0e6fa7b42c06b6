"""transformers.Trainer and trainer_loop.Trainer side by side in a 2-process CPU DDP run (torchrun, gloo).

Checks the distributed paths of the loop: the logged loss averaged over ranks, num_items_in_batch
summed over ranks, FLOPs summed, evaluation gathered (13 samples on 2 × 4: duplicates dropped).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.launch import free_port, launch_env

SCRIPT = Path(__file__).parent / "ddp_trainer_parity.py"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.multiprocess


def _launch(out: Path) -> list[dict[str, Any]]:
    env = launch_env()
    for _attempt in range(2):
        command = [
            str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), str(SCRIPT), str(out),
        ]  # fmt: skip
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode == 0 or "address already in use" not in proc.stderr.lower():
            break  # the free port can be taken between choosing it and binding it: retry once
    assert proc.returncode == 0, f"launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in (0, 1)]


def _close(a: Any, b: Any, path: str = "") -> None:
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-5, abs=1e-7), path
    else:
        assert a == b, path


def test_ddp_two_cpu_processes_match_transformers(tmp_path: Path) -> None:
    pytest.importorskip("transformers")  # the launched script runs it as the reference
    results = _launch(tmp_path)
    for rank, result in enumerate(results):
        _close(result["transformers"], result["trainer_loop"], f"rank{rank}")
        assert len(result["trainer_loop"]["predictions"]) == 13
        assert result["trainer_loop"]["test_metrics"]["test_n"] == 13
    _close(results[0]["trainer_loop"]["weights"], results[1]["trainer_loop"]["weights"])
