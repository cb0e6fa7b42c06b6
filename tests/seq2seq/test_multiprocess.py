"""Generation-based prediction on 2 CPU processes equals the single-process result.

Generated ids of different widths on each process are padded (with -100) before the gather,
and every gathered row is kept: transformers' Seq2SeqTrainer gathers with `accelerator.gather`,
so the sample repeated to even out the last batch comes back too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.launch import free_port, launch_env

SCRIPT = Path(__file__).parent / "scripts" / "ddp_generate.py"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.multiprocess


def _run(command: list[str], out: Path, ranks: int) -> list[dict[str, Any]]:
    proc = subprocess.run(command, env=launch_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in range(ranks)]


def _single_process(out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import ddp_generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    ddp_generate.main(out)
    return json.loads((out / "result_0.json").read_text())  # type: ignore[no-any-return]


def test_two_processes_match_one(tmp_path: Path) -> None:
    single_dir, multi_dir = tmp_path / "single", tmp_path / "multi"
    single_dir.mkdir()
    multi_dir.mkdir()
    single = _single_process(single_dir)
    torchrun = [
        str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), str(SCRIPT), str(multi_dir),
    ]  # fmt: skip
    multi = _run(torchrun, multi_dir, 2)

    assert single["world_size"] == 1 and multi[0]["world_size"] == 2
    assert multi[0] == multi[1]  # every process ends up with the whole result
    ragged, expected = np.array(multi[0]["ragged"]), np.array(single["ragged"])
    # 7 examples in batches of 2 on 2 processes: the last batch repeats example 0 (kept).
    assert ragged.shape == (8, expected.shape[1])
    np.testing.assert_array_equal(ragged[:7], expected)
    assert (
        ragged[7][ragged[7] != -100].tolist()[:5] == expected[0][expected[0] != -100].tolist()[:5]
    )
    assert (expected == -100).any()  # widths really differed between batches
    np.testing.assert_array_equal(np.array(multi[0]["ragged_labels"])[:7], single["ragged_labels"])

    tiny = np.array(multi[0]["tiny"])
    np.testing.assert_array_equal(tiny[:7], np.array(single["tiny"]))
    assert tiny.shape == (8, 20)
