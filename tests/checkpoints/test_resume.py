"""Resuming is exact: the same weights and logs as one uninterrupted run, whatever stopped it."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from support.regression_job import make_trainer

from trainer_loop.checkpoints import get_last_checkpoint, is_complete_checkpoint

pytestmark = pytest.mark.slow
JOB = Path(__file__).with_name("tiny_job.py")  # support.regression_job run as a script


def _step_logs(trainer: Any) -> list[dict[str, Any]]:
    return [entry for entry in trainer.state.log_history if "loss" in entry]


def _assert_same_weights(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, torch.Tensor], list[Any]]:
    """One uninterrupted run of 12 steps, saving every 2 steps."""
    out = tmp_path_factory.mktemp("reference")
    trainer = make_trainer(str(out))
    trainer.train()
    weights = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    return out, weights, _step_logs(trainer)


@pytest.mark.parametrize("step", [4, 6])  # an epoch boundary, then mid-epoch
def test_resume_gives_bitwise_identical_weights_and_logs(
    reference: tuple[Path, dict[str, torch.Tensor], list[Any]], tmp_path: Path, step: int
) -> None:
    ref_dir, ref_weights, ref_logs = reference
    shutil.copytree(ref_dir / f"checkpoint-{step}", tmp_path / f"checkpoint-{step}")
    trainer = make_trainer(str(tmp_path))
    output = trainer.train(resume_from_checkpoint=True)
    assert output.global_step == 12
    _assert_same_weights(ref_weights, trainer.model.state_dict())
    assert _step_logs(trainer) == ref_logs
    later = [f"checkpoint-{n}" for n in range(step, 13, 2)]
    assert sorted(os.listdir(tmp_path)) == sorted(later)
    for name in ("model.safetensors", "optimizer.safetensors"):
        last = "checkpoint-12"
        assert (tmp_path / last / name).read_bytes() == (ref_dir / last / name).read_bytes()


def test_ignore_data_skip_restarts_the_epoch(
    reference: tuple[Path, dict[str, torch.Tensor], list[Any]], tmp_path: Path
) -> None:
    ref_dir, ref_weights, _ = reference
    shutil.copytree(ref_dir / "checkpoint-6", tmp_path / "checkpoint-6")
    trainer = make_trainer(str(tmp_path), ignore_data_skip=True)
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-6"))
    assert trainer.state.global_step == 12
    assert any(not torch.equal(ref_weights[k], v) for k, v in trainer.model.state_dict().items())


def _run_job(out: Path, *extra: str) -> tuple[int, str]:
    """Run the job in a subprocess; (exit code, output). Output goes through a file, not a pipe:
    dataloader workers of a SIGKILLed job would hold a pipe open until they notice."""
    log = out.with_name(out.name + ".log")
    with open(log, "w") as sink:
        process = subprocess.run(
            [sys.executable, str(JOB), str(out), *extra],
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=300,
        )
    return process.returncode, log.read_text()


def _resume_in_process(out: Path) -> dict[str, torch.Tensor]:
    trainer = make_trainer(str(out))
    trainer.train(resume_from_checkpoint=True)
    assert trainer.state.global_step == 12
    return dict(trainer.model.state_dict())


@pytest.mark.parametrize("where", ["step", "write", "publish"])
def test_sigkill_at_a_random_moment_then_resume(
    reference: tuple[Path, dict[str, torch.Tensor], list[Any]], tmp_path: Path, where: str
) -> None:
    rng = random.Random(f"sigkill-{where}")
    flag = {
        "step": ["--sigkill-at-step", str(rng.randint(3, 11))],  # between saves
        # one optimizer state file per checkpoint: cut one of saves 2..5
        "write": ["--sigkill-at-write", str(rng.randint(2, 5))],
        # 8 files + 1 folder fsynced per checkpoint: cut one of saves 2..5 while publishing
        "publish": ["--sigkill-at-fsync", str(rng.randint(10, 45))],
    }[where]
    out = tmp_path / "out"
    code, output = _run_job(out, *flag)
    assert code == -signal.SIGKILL, output[-2000:]
    last = get_last_checkpoint(out)
    assert last is not None and is_complete_checkpoint(last)
    hidden = [n for n in os.listdir(out) if n.startswith(".")]
    if where != "step":  # the cut save left only its hidden work folder (and publication claim)
        assert hidden and all(n.startswith(".tmp-checkpoint-") for n in hidden), hidden
    _assert_same_weights(reference[1], _resume_in_process(out))
    final = load_file(str(out / "checkpoint-12" / "model.safetensors"))
    _assert_same_weights(reference[1], final)
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # the next save cleaned up


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(
    reference: tuple[Path, dict[str, torch.Tensor], list[Any]], tmp_path: Path
) -> None:
    code, output = _run_job(tmp_path / "out", "--sigterm-at-step", "5")
    assert code == 0, output[-2000:]
    assert "finished at step 5" in output
    assert output.count("SIGTERM received: saving a checkpoint at step 5 and stopping.") == 1
    tmp_path = tmp_path / "out"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-5"]
    assert is_complete_checkpoint(tmp_path / "checkpoint-5")
    _assert_same_weights(reference[1], _resume_in_process(tmp_path))
