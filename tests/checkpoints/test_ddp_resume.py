"""Two CPU processes (gloo, torchrun): per-process RNG files and a bit-exact DDP resume; the
FSDP2 optimizer state gathered, saved and scattered back without changing training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.launch import free_port, launch_env

pytestmark = [pytest.mark.multiprocess, pytest.mark.slow]
JOB = Path(__file__).with_name("ddp_resume_job.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("ddp")
    env = launch_env()
    command = [
        str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(JOB), str(out),
    ]  # fmt: skip
    log = out / "launch.log"
    with open(log, "w") as sink:
        code = subprocess.run(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, timeout=300
        ).returncode
    assert code == 0, log.read_text()[-6000:]
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in (0, 1)]


def test_ddp_resume_is_bitwise_identical_on_every_rank(results: list[dict[str, Any]]) -> None:
    for result in results:
        assert result["equal"] and result["steps"] == 8
        assert result["ref_folders"] == [
            "checkpoint-2",
            "checkpoint-4",
            "checkpoint-6",
            "checkpoint-8",
        ]
        assert {"rng_state_0.safetensors", "rng_state_1.safetensors"} <= set(result["files"])
        assert not any(name.endswith((".pt", ".pth", ".bin")) for name in result["files"])


def test_fsdp_optimizer_state_round_trip_keeps_training_identical(
    results: list[dict[str, Any]],
) -> None:
    assert all(result["fsdp_equal"] for result in results)
