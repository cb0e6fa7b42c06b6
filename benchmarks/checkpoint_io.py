"""Checkpoint save/load time: ours (safetensors + JSON, atomic, fsynced) vs transformers' Trainer.

A ~101M-parameter plain stack of Linear layers with AdamW state after one step (weights
0.4 GB + optimizer 0.8 GB). transformers side: the real `Trainer._save_checkpoint` and
`_load_from_checkpoint` + `_load_optimizer_and_scheduler` + `_load_rng_state` (torch.save /
torch.load pickles, no fsync). Rounds are interleaved; medians are reported. Not a test.

    python benchmarks/checkpoint_io.py [--rounds 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers

from trainer_loop.checkpointing import (
    load_checkpoint_model,
    load_checkpoint_optimizer_and_scheduler,
    load_checkpoint_rng,
    save_checkpoint,
)
from trainer_loop.state import TrainerControl, TrainerState

WIDTH = 2048  # --width: 2048 gives the ~100M model; the harness smoke test uses a tiny one


def build_model() -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for _ in range(6):  # 6 x (2048->4096->2048) = 100.7M parameters
        layers += [torch.nn.Linear(WIDTH, 2 * WIDTH), torch.nn.Linear(2 * WIDTH, WIDTH)]
    return torch.nn.Sequential(*layers)


def make_trainer(out: Path) -> transformers.Trainer:
    model = build_model()
    args = transformers.TrainingArguments(
        output_dir=str(out), report_to=[], save_strategy="steps", disable_tqdm=True, use_cpu=True
    )
    trainer = transformers.Trainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    model(torch.randn(2, WIDTH)).sum().backward()
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    return trainer


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

    def ours_load(folder: Path) -> None:
        load_checkpoint_model(trainer.model, folder)
        load_checkpoint_optimizer_and_scheduler(
            trainer.optimizer, trainer.lr_scheduler, None, folder
        )
        load_checkpoint_rng(folder, 0)

    def theirs_load(folder: str) -> None:
        trainer._load_from_checkpoint(folder)
        trainer._load_optimizer_and_scheduler(folder)
        trainer._load_rng_state(folder)

    for _ in range(cli.rounds):
        step += 1
        trainer.state.global_step = step
        times["ours_save"].append(timed(ours_save))
        times["theirs_save"].append(timed(trainer._save_checkpoint, trainer.model, None))
        folder, their_folder = (
            ours_dir / f"checkpoint-{step}",
            root / "theirs" / f"checkpoint-{step}",
        )
        times["ours_load"].append(timed(ours_load, folder))
        times["theirs_load"].append(timed(theirs_load, str(their_folder)))
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
        f"ours vs transformers: save {med['ours_save'] / med['theirs_save']:.2f}x, "
        f"load {med['ours_load'] / med['theirs_load']:.2f}x (time ratio, <1 is faster)"
    )


if __name__ == "__main__":
    main()
