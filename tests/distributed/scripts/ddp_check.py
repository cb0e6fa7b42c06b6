"""Run under torchrun / accelerate launch with 2 CPU processes: `ddp_check.py OUT_DIR [--fsdp]`.

Each process writes OUT_DIR/result_<rank>.json with what it observed; the pytest side
compares. Checks, all through trainer_dist:
- DDP training with gradient accumulation, both the Trainer's way (accelerate num_steps=1,
  manual `no_sync` on the non-final micro-batches) and accelerate's `accumulate`, ends
  with the same weights as one process on the same global batches;
- gather_for_metrics returns exactly the dataset (uneven last batch de-duplicated) and
  equals single-process predictions; pad_across_processes / reduce / broadcast agree;
- find_executable_batch_size halves on every process when only one runs out of memory;
- per-process RNG files restore identical draws;
- with --fsdp: FSDP2 through accelerate on CPU, or the reason it cannot run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState

from trainer_args import TrainingArguments
from trainer_dist import (
    UnsupportedSetupError,
    build_accelerator,
    find_executable_batch_size,
    gather_for_metrics,
    load_rng_state,
    pad_across_processes,
    reduce,
    rng_state_filename,
    save_rng_state,
    set_seed,
)

PER_DEVICE, ACCUMULATION, STEPS, LR = 4, 2, 3, 0.1
N_TRAIN = 2 * PER_DEVICE * ACCUMULATION * STEPS  # 48: full batches on 2 processes
N_EVAL = 13  # uneven: the last batches are padded with repeated samples


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def make_data(n: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(123 + offset)
    x = torch.randn(n, 3, generator=gen)
    return x, x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=gen)


def reference_weights() -> list[list[float]]:
    """One process, plain torch: each step sees the same 16 samples as the two ranks together."""
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = make_data(N_TRAIN)
    step_size = 2 * PER_DEVICE * ACCUMULATION
    for step in range(STEPS):
        xs, ys = (
            x[step * step_size : (step + 1) * step_size],
            y[step * step_size : (step + 1) * step_size],
        )
        torch.nn.functional.mse_loss(model(xs), ys).backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.detach().flatten().tolist() for p in model.parameters()]


def make_args(out: Path, **extra: Any) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(out / "run"),
        use_cpu=True,
        per_device_train_batch_size=PER_DEVICE,
        gradient_accumulation_steps=ACCUMULATION,
        report_to="none",
        ddp_backend="gloo",
        ddp_find_unused_parameters=False,
        **extra,
    )


def train(out: Path, trainer_style: bool) -> tuple[list[list[float]], Any, torch.nn.Module]:
    args = make_args(out)
    accelerator = build_accelerator(args, accumulate_in_accelerate=not trainer_style)
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = make_data(N_TRAIN)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=PER_DEVICE
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for index, (xb, yb) in enumerate(loader):
        last_micro_batch = (index + 1) % ACCUMULATION == 0
        if trainer_style:
            # the Trainer's way: accelerate does not accumulate (num_steps=1), we skip the sync
            accelerator.gradient_state._set_sync_gradients(last_micro_batch)
            context = accelerator.no_sync(model) if not last_micro_batch else _null()
            with context:
                loss = torch.nn.functional.mse_loss(model(xb), yb) / ACCUMULATION
                accelerator.backward(loss)
        else:
            with accelerator.accumulate(model):
                accelerator.backward(torch.nn.functional.mse_loss(model(xb), yb))
        if last_micro_batch or not trainer_style:  # accelerate skips unsynced steps itself
            optimizer.step()
            optimizer.zero_grad()
    weights = [p.detach().flatten().tolist() for p in accelerator.unwrap_model(model).parameters()]
    return weights, accelerator, model


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def check_gather(accelerator: Any, model: torch.nn.Module) -> dict[str, Any]:
    x, _ = make_data(N_EVAL, offset=1)
    ids = torch.arange(N_EVAL)
    loader = accelerator.prepare(
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, ids), batch_size=4)
    )
    preds, seen = [], []
    model.eval()
    with torch.no_grad():
        for xb, idb in loader:
            got = gather_for_metrics(accelerator, {"pred": model(xb), "id": idb})
            preds.append(got["pred"])
            seen.append(got["id"])
        expected = accelerator.unwrap_model(model)(x)
    return {
        "gathered_ids": torch.cat(seen).tolist(),
        "gathered_match_single_process": bool(
            torch.allclose(torch.cat(preds), expected, atol=1e-6)
        ),
    }


def check_collectives(accelerator: Any) -> dict[str, Any]:
    rank = accelerator.process_index
    padded = pad_across_processes(
        accelerator, torch.full((1, 3 + rank), rank), dim=1, pad_index=-100
    )
    return {
        "padded": accelerator.gather(padded).tolist(),
        "mean": reduce(accelerator, torch.tensor([float(rank)]), "mean").tolist(),
        "sum": reduce(accelerator, torch.tensor([float(rank + 1)]), "sum").tolist(),
    }


def check_batch_size(rank: int) -> dict[str, Any]:
    tried: list[int] = []

    def step(batch_size: int) -> int:
        tried.append(batch_size)
        if rank == 1 and batch_size > 16:  # only one process runs out of memory
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return batch_size

    return {"found": find_executable_batch_size(step, starting_batch_size=64)(), "tried": tried}


def check_rng(out: Path, rank: int) -> bool:
    set_seed(100 + rank)
    path = out / rng_state_filename(rank)
    save_rng_state(path)
    expected = torch.rand(3).tolist()
    torch.rand(5)
    load_rng_state(path)
    return torch.rand(3).tolist() == expected


def check_fsdp(out: Path) -> dict[str, Any]:
    args = make_args(out, fsdp=True, fsdp_config={"version": 2, "auto_wrap_policy": "NO_WRAP"})
    try:
        accelerator = build_accelerator(args)
    except UnsupportedSetupError as exc:
        # nothing left behind that would turn FSDP on for the next Accelerator
        return {"unsupported": str(exc), "env_clean": "ACCELERATE_USE_FSDP" not in os.environ}
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    model, optimizer = accelerator.prepare(model, optimizer)
    x, y = make_data(8)
    for _ in range(2):
        accelerator.backward(torch.nn.functional.mse_loss(model(x), y))
        optimizer.step()
        optimizer.zero_grad()
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in state.items()}, str(out / "fsdp_model.safetensors")
        )
    accelerator.wait_for_everyone()
    return {"distributed_type": str(accelerator.distributed_type)}


def main() -> None:
    out = Path(sys.argv[1])
    result: dict[str, Any] = {"env_world_size": os.environ.get("WORLD_SIZE")}
    result["reference"] = reference_weights()
    result["trainer_style"], _, _ = train(out, trainer_style=True)
    result["accumulate_style"], accelerator, model = train(out, trainer_style=False)
    rank = accelerator.process_index
    result.update(rank=rank, num_processes=accelerator.num_processes)
    result["distributed_type"] = str(accelerator.distributed_type)
    result.update(check_gather(accelerator, model))
    result.update(check_collectives(accelerator))
    result["batch_size"] = check_batch_size(rank)
    result["rng_restored"] = check_rng(out, rank)
    if "--fsdp" in sys.argv:
        result["fsdp"] = check_fsdp(out)
    (out / f"result_{rank}.json").write_text(json.dumps(result))
    # the FSDP attempt reset accelerate's AcceleratorState; the PartialState is still up
    PartialState().wait_for_everyone()


if __name__ == "__main__":
    main()
    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
