"""Two CPU processes (gloo) through trainer_dist, launched by torchrun and by accelerate launch.

One launch per launcher runs every check (see scripts/ddp_check.py); the tests read the
per-process JSON results.
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

SCRIPT = Path(__file__).parent / "scripts" / "ddp_check.py"
BIN = Path(sys.executable).parent
TIMEOUT_S = 240

pytestmark = pytest.mark.multiprocess


def _launch(command: list[str], out: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        command, env=launch_env(), capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 0, f"launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return [json.loads((out / f"result_{rank}.json").read_text()) for rank in (0, 1)]


@pytest.fixture(scope="module")
def torchrun_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    out = tmp_path_factory.mktemp("torchrun")
    command = [
        str(BIN / "torchrun"),
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(SCRIPT),
        str(out),
        "--fsdp",
    ]
    return _launch(command, out), out


def _flat(weights: list[list[float]]) -> np.ndarray:
    return np.concatenate([np.asarray(w) for w in weights])


def _check_ddp(results: list[dict[str, Any]]) -> None:
    for result in results:
        assert result["num_processes"] == 2
        assert result["distributed_type"] == "DistributedType.MULTI_CPU"
        reference = _flat(result["reference"])
        # same global batch, Trainer-style accumulation and accelerate's accumulate()
        np.testing.assert_allclose(_flat(result["trainer_style"]), reference, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            _flat(result["accumulate_style"]), reference, rtol=1e-5, atol=1e-6
        )
        # 13 eval samples on 2×4: the repeated samples of the last batch are dropped
        assert result["gathered_ids"] == list(range(13))
        assert result["gathered_match_single_process"]
        assert result["padded"] == [[0, 0, 0, -100], [1, 1, 1, 1]]
        assert result["mean"] == [0.5]
        assert result["sum"] == [3.0]
        # only rank 1 ran out of memory, both settled on the same size
        assert result["batch_size"] == {"found": 16, "tried": [64, 32, 16]}
        assert result["rng_restored"]
    np.testing.assert_array_equal(
        _flat(results[0]["trainer_style"]), _flat(results[1]["trainer_style"])
    )


def test_torchrun_two_cpu_processes(torchrun_results: tuple[list[dict[str, Any]], Path]) -> None:
    _check_ddp(torchrun_results[0])


def test_accelerate_launch_two_cpu_processes(tmp_path: Path) -> None:
    # `accelerate launch --cpu --num_processes 2` starts ONE process in accelerate 1.15 unless
    # MPI is given (--mpirun_hostfile); --multi_gpu spawns through torch.distributed.run and
    # the script's use_cpu=True keeps both processes on the CPU with gloo.
    command = [
        str(BIN / "accelerate"),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(SCRIPT),
        str(tmp_path),
    ]
    _check_ddp(_launch(command, tmp_path))


def test_fsdp2_on_cpu(torchrun_results: tuple[list[dict[str, Any]], Path]) -> None:
    results, out = torchrun_results
    fsdp = results[0]["fsdp"]
    if "unsupported" in fsdp:
        # accelerate (1.15) runs CPU process groups as MULTI_CPU and would silently use DDP;
        # build_accelerator refuses instead. torch's own fully_shard does work on CPU/gloo.
        assert "fsdp" in fsdp["unsupported"]
        assert fsdp["env_clean"]
        pytest.skip(f"FSDP through accelerate is not possible on CPU: {fsdp['unsupported']}")
    import torch
    from safetensors.torch import load_file

    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from ddp_check import make_model  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    model = make_model()
    model.load_state_dict(load_file(str(out / "fsdp_model.safetensors")), strict=True)
    assert fsdp["distributed_type"] == "DistributedType.FSDP"
    assert all(torch.isfinite(p).all() for p in model.parameters())
