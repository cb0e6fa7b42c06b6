"""Checkpoint save/load time: ours (safetensors + JSON, atomic, fsynced) vs transformers' Trainer.

A ~101M-parameter plain stack of Linear layers with AdamW state after one step (weights
0.4 GB + optimizer 0.8 GB). transformers side: the real `Trainer._save_checkpoint` and
`_load_from_checkpoint` + `_load_optimizer_and_scheduler` + `_load_rng_state` (torch.save /
torch.load pickles, no fsync). Rounds are interleaved; medians are reported. Not a test.

Every load goes into a freshly built model, optimizer and scheduler (other initial weights, no
optimizer state), and what it restored is compared with a snapshot (a deep copy of the model's
weights, the optimizer's and scheduler's states and the RNG states) taken before the save: a
load that restored nothing, or only part, ends the run with an error (exit status 1) instead
of being timed.

    python benchmarks/checkpoint_io.py [--rounds 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import copy
import logging
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

from trainer_loop.checkpoints import (
    load_checkpoint_model,
    load_checkpoint_optimizer_and_scheduler,
    load_checkpoint_rng,
    save_checkpoint,
)
from trainer_loop.state import TrainerControl, TrainerState

WIDTH = 2048  # --width: 2048 gives the ~100M model; the harness smoke test uses a tiny one


def build_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for _ in range(6):  # 6 x (2048->4096->2048) = 100.7M parameters
        layers += [torch.nn.Linear(WIDTH, 2 * WIDTH), torch.nn.Linear(2 * WIDTH, WIDTH)]
    return torch.nn.Sequential(*layers)


def make_trainer(out: Path, seed: int = 0, step: bool = True) -> transformers.Trainer:
    """A Trainer with its optimizer and scheduler; with `step`, after one optimizer step."""
    model = build_model(seed)
    args = transformers.TrainingArguments(
        output_dir=str(out), report_to=[], save_strategy="steps", disable_tqdm=True, use_cpu=True
    )
    trainer = transformers.Trainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    if step:
        model(torch.randn(2, WIDTH)).sum().backward()
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
        trainer.optimizer.zero_grad(set_to_none=True)
    return trainer


class Mismatch(SystemExit):
    """A load did not restore what was saved: the run fails (exit status 1)."""


def snapshot(trainer: transformers.Trainer) -> dict[str, Any]:
    """Deep copies of everything a checkpoint restores, taken just before it is saved."""
    return {
        "model": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
        "optimizer": copy.deepcopy(trainer.optimizer.state_dict()),
        "scheduler": copy.deepcopy(trainer.lr_scheduler.state_dict()),
        "rng": rng_states(),
    }


def rng_states() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def first_difference(restored: Any, saved: Any, where: str) -> str | None:
    """Where two nested states differ (tensors bit for bit), or None when they are the same."""
    if isinstance(saved, torch.Tensor):
        same = (
            isinstance(restored, torch.Tensor)
            and restored.dtype == saved.dtype
            and restored.shape == saved.shape
            and torch.equal(restored, saved)
        )
        return None if same else where
    if isinstance(saved, np.ndarray):
        return None if np.array_equal(restored, saved) else where
    if isinstance(saved, dict):
        if not isinstance(restored, dict) or set(restored) != set(saved):
            return f"{where} (keys)"
        for key in saved:
            found = first_difference(restored[key], saved[key], f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(saved, (list, tuple)):
        if not isinstance(restored, (list, tuple)) or len(restored) != len(saved):
            return f"{where} (length)"
        for i, (a, b) in enumerate(zip(restored, saved)):
            found = first_difference(a, b, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if restored == saved else where


def check_restored(who: str, trainer: transformers.Trainer, saved: dict[str, Any]) -> None:
    """`trainer`'s model, optimizer, scheduler and the RNGs against the snapshot."""
    restored = {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.lr_scheduler.state_dict(),
        "rng": rng_states(),
    }
    found = first_difference(restored, saved, "state")
    if found:
        raise Mismatch(f"{who}: the loaded checkpoint differs from what was saved at {found}")


def timed(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--width", type=int, default=WIDTH, help="layer width (2048: ~100M)")
    cli = parser.parse_args()
    globals()["WIDTH"] = cli.width
    logging.disable(logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="ckpt-bench-", dir=cli.dir))
    trainer = make_trainer(root / "theirs")
    params = sum(p.numel() for p in trainer.model.parameters())
    ours_dir = root / "ours"
    step = 0
    control = TrainerControl()
    times: dict[str, list[float]] = {
        k: [] for k in ("ours_save", "theirs_save", "ours_load", "theirs_load")
    }

    def ours_save() -> Path:
        state = TrainerState(global_step=step, stateful_callbacks=[control])
        return save_checkpoint(
            ours_dir, model=trainer.model, optimizer=trainer.optimizer, scheduler=trainer.lr_scheduler,
            scaler=None, state=state, args=trainer.args, callbacks=[], control=control,
        )  # fmt: skip

    def ours_load(fresh: transformers.Trainer, folder: Path) -> None:
        load_checkpoint_model(fresh.model, folder)
        load_checkpoint_optimizer_and_scheduler(fresh.optimizer, fresh.lr_scheduler, None, folder)
        load_checkpoint_rng(folder, 0)

    def theirs_load(fresh: transformers.Trainer, folder: str) -> None:
        fresh._load_from_checkpoint(folder)
        fresh._load_optimizer_and_scheduler(folder)
        fresh._load_rng_state(folder)

    def fresh_trainer() -> transformers.Trainer:
        # Other initial weights, an optimizer without state, a scheduler at step 0: a load that
        # leaves anything out shows. Building it moves the RNGs, which the load must restore.
        return make_trainer(root / "fresh", seed=1, step=False)

    for _ in range(cli.rounds):
        step += 1
        trainer.state.global_step = step
        saved = snapshot(trainer)
        times["ours_save"].append(timed(ours_save))
        times["theirs_save"].append(timed(trainer._save_checkpoint, trainer.model, None))
        folder, their_folder = (
            ours_dir / f"checkpoint-{step}",
            root / "theirs" / f"checkpoint-{step}",
        )
        fresh = fresh_trainer()
        times["ours_load"].append(timed(ours_load, fresh, folder))
        check_restored("ours", fresh, saved)
        fresh = fresh_trainer()
        times["theirs_load"].append(timed(theirs_load, fresh, str(their_folder)))
        check_restored("transformers", fresh, saved)
        del fresh
        shutil.rmtree(folder)
        shutil.rmtree(their_folder)
    shutil.rmtree(root, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"model: {params / 1e6:.1f}M parameters, AdamW state; {cli.rounds} interleaved rounds, median"
    )
    for kind in ("save", "load"):
        print(f"{kind}: ours {med[f'ours_{kind}']:.2f}s  transformers {med[f'theirs_{kind}']:.2f}s")
    print(
        f"restored state (weights, optimizer, scheduler, RNG) identical to the saved one: "
        f"ours and transformers, all {cli.rounds} rounds, each into a freshly built model"
    )
    print(
        f"ours vs transformers: save {med['ours_save'] / med['theirs_save']:.2f}x, "
        f"load {med['ours_load'] / med['theirs_load']:.2f}x (time ratio, <1 is faster)"
    )


if __name__ == "__main__":
    main()
