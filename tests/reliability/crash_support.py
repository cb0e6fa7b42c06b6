"""Running scripts/crash_job.py and checking what a killed run left in its output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from trainer_dist.rng_state import capture_rng_state, restore_rng_state
from trainer_loop.checkpoints import (
    is_complete_checkpoint,
    load_checkpoint_model,
    load_checkpoint_optimizer_and_scheduler,
    load_checkpoint_rng,
    load_trainer_state,
)
from trainer_loop.checkpoints.names import checkpoint_step

SCRIPTS = Path(__file__).with_name("scripts")
CRASH_JOB = SCRIPTS / "crash_job.py"
# Keys whose values are wall-clock measurements: never equal between two runs.
TIMING_KEYS = ("runtime", "per_second")


def run_job(out: Path, crash_at: str | None = None) -> tuple[int, str]:
    """(exit code, output) of one run of the crash job on `out`.

    Output goes to a file, not a pipe, so nothing the killed process leaves can block us.
    """
    env = {k: v for k, v in os.environ.items() if k != "CRASH_AT"}
    if crash_at is not None:
        env["CRASH_AT"] = crash_at
    env.setdefault("OMP_NUM_THREADS", "1")  # the same kernels in every run (bitwise comparison)
    log = out.with_name(f"{out.name}.log")
    with open(log, "w") as sink:
        done = subprocess.run(
            [sys.executable, str(CRASH_JOB), str(out)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=300,
        )
    return done.returncode, log.read_text()


def checkpoint_folders(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    steps = {p: checkpoint_step(p.name) for p in out.iterdir()}
    return sorted((p for p, step in steps.items() if step is not None), key=lambda p: steps[p])


def assert_loads_fully(folder: Path) -> None:
    """Everything a resume reads from `folder` is there and readable, bit for bit."""
    from crash_job import MAX_STEPS, make_trainer  # scripts/ is on sys.path (conftest)

    with tempfile.TemporaryDirectory() as scratch:
        trainer = make_trainer(scratch)  # the job's own optimizer (two parameter groups)
        trainer.create_optimizer_and_scheduler(num_training_steps=MAX_STEPS)
    model, optimizer, scheduler = trainer.model, trainer.optimizer, trainer.lr_scheduler
    stored = load_file(str(folder / "model.safetensors"))  # a cut file raises here
    assert stored.keys() == model.state_dict().keys(), folder
    load_checkpoint_model(model, folder)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, stored[name]), (folder, name)
    assert load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, None, folder), (
        f"{folder} reads as complete but has no optimizer state"
    )
    assert len(optimizer.state) == len(list(model.parameters())), folder
    saved_rng = capture_rng_state()
    try:
        assert load_checkpoint_rng(folder, 0), folder
    finally:
        restore_rng_state(saved_rng)
    state = load_trainer_state(folder)
    assert state.global_step == checkpoint_step(folder.name), folder
    json.loads((folder / "training_args.json").read_text())


def assert_no_fake_complete_checkpoint(out: Path) -> list[Path]:
    """Every folder that reads as complete loads fully; returns the complete ones."""
    complete = [f for f in checkpoint_folders(out) if is_complete_checkpoint(f)]
    for folder in complete:
        assert_loads_fully(folder)
    return complete


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "checkpoint-12" / "model.safetensors"))


def comparable_logs(out: Path) -> list[dict[str, Any]]:
    """The final log history without the wall-clock measurements."""
    history = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text())["log_history"]
    return [
        {k: v for k, v in entry.items() if not any(t in k for t in TIMING_KEYS)}
        for entry in history
    ]
