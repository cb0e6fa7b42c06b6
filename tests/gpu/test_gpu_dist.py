"""GPU checks of trainer_dist (skipped without CUDA).

Run with pytest, or alone: `python tests/gpu/test_gpu_dist.py` (pytest not needed then).
Checks: bf16 and fp16 training steps (finite, decreasing loss; fp16 uses a grad scaler),
TF32 on/off, auto_find_batch_size recovering from a real CUDA out-of-memory error,
CUDA RNG state round trip, GPU memory metrics, device setup.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
from support.gpu_runner import run_tests

try:
    import pytest
except ImportError:  # standalone run without pytest
    pytest = None  # type: ignore[assignment]

from trainer_args import TrainingArguments
from trainer_dist import (
    MemoryTracker,
    build_accelerator,
    find_executable_batch_size,
    load_rng_state,
    reset_accelerate_state,
    save_rng_state,
    setup_devices,
)
from trainer_dist.precision import tf32_enabled

HAS_CUDA = torch.cuda.is_available()
if pytest is not None:
    pytestmark = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")

GIB = 2**30


def _args(**overrides: Any) -> TrainingArguments:
    overrides.setdefault("report_to", "none")
    return TrainingArguments(output_dir=tempfile.mkdtemp(prefix="gpu-dist-"), **overrides)


def _train_losses(**precision: Any) -> tuple[list[float], Any]:
    accelerator = build_accelerator(_args(**precision))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model, optimizer = accelerator.prepare(model, optimizer)
    x = torch.randn(512, 64, device=accelerator.device)
    y = x[:, :8].sum(dim=1, keepdim=True)
    losses = []
    for _ in range(40):
        with accelerator.autocast():
            loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses, accelerator


def test_device_setup_uses_the_gpu() -> None:
    setup = setup_devices(_args())
    assert setup.device == torch.device("cuda:0")
    assert setup.n_gpu == torch.cuda.device_count()


def test_bf16_training_steps() -> None:
    losses, accelerator = _train_losses(bf16=True)
    assert accelerator.mixed_precision == "bf16"
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


def test_fp16_training_steps() -> None:
    losses, accelerator = _train_losses(fp16=True)
    assert accelerator.mixed_precision == "fp16"
    assert accelerator.scaler is not None  # fp16 needs loss scaling
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


def test_tf32_switches_on_and_off() -> None:
    build_accelerator(_args(tf32=True))
    assert tf32_enabled()
    build_accelerator(_args(tf32=False))
    assert not tf32_enabled()


def test_auto_find_batch_size_recovers_from_a_real_oom() -> None:
    total_gib = torch.cuda.get_device_properties(0).total_memory // GIB
    start = 1
    while start <= 2 * total_gib:  # first try: at least twice the card's memory
        start *= 2
    tried: list[int] = []

    def step(batch_size: int) -> int:
        tried.append(batch_size)
        block = torch.empty((batch_size, GIB // 4), dtype=torch.float32, device="cuda")  # 1 GiB/row
        block.fill_(1.0)
        del block
        return batch_size

    found = find_executable_batch_size(step, starting_batch_size=start)()
    assert tried[0] == start and len(tried) >= 2
    assert tried == [start >> i for i in range(len(tried))]
    assert found == tried[-1] and found <= total_gib


def test_cuda_rng_state_round_trip() -> None:
    path = tempfile.mkdtemp(prefix="gpu-rng-") + "/rng_state_0.safetensors"
    torch.cuda.manual_seed_all(5)
    save_rng_state(path)
    expected = torch.rand(4, device="cuda").tolist()
    torch.rand(10, device="cuda")
    load_rng_state(path)
    assert torch.rand(4, device="cuda").tolist() == expected


def test_gpu_memory_metrics() -> None:
    tracker = MemoryTracker(skip_memory_metrics=False)
    tracker.start(stage="train")
    kept = torch.ones(64 * 2**20 // 4, device="cuda")  # 64 MiB
    metrics: dict[str, Any] = {}
    tracker.stop_and_update_metrics(metrics, stage="train")
    assert metrics["train_mem_gpu_alloc_delta"] >= 64 * 2**20
    assert "train_mem_gpu_peaked_delta" in metrics
    del kept


if __name__ == "__main__":
    sys.exit(
        run_tests(globals(), needs="CUDA", available=HAS_CUDA, after_each=reset_accelerate_state)
    )
