"""SIGKILL at any moment, resume, again and again: the end result is one uninterrupted run's.

Each kill is real (the job sends itself SIGKILL: no finally, no atexit, no flush), at a
moment drawn from a seeded RNG within one phase: the middle of an optimizer step, of an
evaluation, of writing a checkpoint's tensor or JSON file, just before or just after the
rename that publishes a checkpoint. After every kill the output folder is scanned: each
folder that `is_complete_checkpoint` accepts must load fully (weights, optimizer,
scheduler, RNG, trainer state), and `get_last_checkpoint` must pick a complete one.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from crash_support import (
    assert_no_fake_complete_checkpoint,
    checkpoint_folders,
    comparable_logs,
    final_weights,
    run_job,
)

from trainer_loop.checkpoints import get_last_checkpoint

pytestmark = pytest.mark.slow

# (phase, highest count): each range ends where the kill is still certain to happen in that
# run, whatever the earlier kills left (every run before "published" starts at step 0 or 3).
PHASES = [
    ("train_forward", 6),  # 2 micro-batches per step: dies within steps 1-3
    ("eval_forward", 6),  # 3 batches per evaluation: the evaluations of steps 2 and 4
    ("tensor_file", 3),  # model, optimizer, rng: the first checkpoint this run writes
    ("json_file", 4),  # training_args, optimizer, scheduler, trainer_state
    ("publish", 1),
    ("published", 1),
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    code, output = run_job(out)
    assert code == 0, output[-3000:]
    return out


def _assert_same(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert torch.equal(tensor, got[name]), name


def test_killed_again_and_again_then_resumed_equals_one_run(
    reference: Path, tmp_path: Path
) -> None:
    rng = random.Random(20260412)
    out = tmp_path / "out"
    seen: list[Any] = []
    for phase, highest in PHASES:
        crash_at = f"{phase}:{rng.randint(1, highest)}"
        code, output = run_job(out, crash_at)
        assert code == -signal.SIGKILL, (crash_at, output[-3000:])
        assert f"CRASH {crash_at.replace(':', ' ')}" in output
        complete = assert_no_fake_complete_checkpoint(out)
        last = get_last_checkpoint(out)
        assert last == (complete[-1] if complete else None), crash_at
        seen.append((crash_at, [p.name for p in checkpoint_folders(out)]))
    code, output = run_job(out)
    assert code == 0 and "FINISHED 12" in output, output[-3000:]
    _assert_same(final_weights(reference), final_weights(out))
    assert comparable_logs(out) == comparable_logs(reference), seen
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # leftovers cleaned


def test_kill_during_rotation_leaves_no_fake_complete_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = run_job(out, "rotate:1")  # deleting checkpoint-3 after checkpoint-9 is saved
    assert code == -signal.SIGKILL, output[-3000:]
    assert_no_fake_complete_checkpoint(out)
