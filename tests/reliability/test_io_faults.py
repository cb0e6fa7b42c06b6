"""Disk full (ENOSPC) and I/O errors (EIO) at each file of a checkpoint, in turn.

What must hold: the save fails loudly, the earlier checkpoints keep their exact bytes, no
partial folder is taken for a checkpoint, the next save works, and the error tells the
user which file could not be written.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from crash_support import assert_loads_fully
from io_faults import CHECKPOINT_FILES, failing_write, rust_io_error

from trainer_loop.checkpoints import get_last_checkpoint, is_complete_checkpoint, save_checkpoint
from trainer_loop.checkpoints import io as checkpoint_io

ERRNOS = [pytest.param(errno.ENOSPC, id="ENOSPC"), pytest.param(errno.EIO, id="EIO")]


class Run:
    """A crash_job trainer set up for saving: model, optimizer, scheduler, state, args."""

    def __init__(self, out: Path) -> None:
        from crash_job import make_trainer

        self.out = out
        self.trainer = make_trainer(str(out))
        self.trainer.create_optimizer_and_scheduler(num_training_steps=12)
        model = self.trainer.model
        model(torch.ones(2, 4), torch.zeros(2, 2))["loss"].backward()
        self.trainer.optimizer.step()
        self.trainer.lr_scheduler.step()

    def save(self, step: int) -> Path:
        t = self.trainer
        t.state.global_step = step
        return save_checkpoint(
            self.out, model=t.model, optimizer=t.optimizer, scheduler=t.lr_scheduler,
            scaler=None, state=t.state, args=t.args, callbacks=t.callback_handler.callbacks,
            control=t.control,
        )  # fmt: skip


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _failed_save(run: Run, monkeypatch: pytest.MonkeyPatch, name: str, code: int) -> BaseException:
    with failing_write(monkeypatch, name, code), pytest.raises(BaseException) as caught:
        run.save(6)
    return caught.value


@pytest.mark.parametrize("code", ERRNOS)
@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_failed_write_keeps_earlier_checkpoints_and_the_next_save_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: int
) -> None:
    run = Run(tmp_path)
    run.save(2)
    run.save(4)
    before = _snapshot(tmp_path)
    error = _failed_save(run, monkeypatch, name, code)
    assert not isinstance(error, (AssertionError, KeyboardInterrupt)), error
    assert _snapshot(tmp_path) == before  # same files, same bytes, no work folder left
    assert get_last_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    # The disk has room again: the same step saves and loads fully.
    assert run.save(6) == tmp_path / "checkpoint-6"
    assert is_complete_checkpoint(tmp_path / "checkpoint-6")
    assert_loads_fully(tmp_path / "checkpoint-6")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4", "checkpoint-6"]


@pytest.mark.parametrize("code", ERRNOS)
@pytest.mark.parametrize("name", CHECKPOINT_FILES)
def test_the_error_is_an_oserror_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: int
) -> None:
    run = Run(tmp_path)
    error = _failed_save(run, monkeypatch, name, code)
    assert isinstance(error, OSError), repr(error)
    assert error.errno == code
    assert name in str(error) and "checkpoint-6" in str(error), str(error)


def test_the_injected_errors_are_those_a_real_failing_disk_gives(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel fail writes (EFBIG): the same forms as injected above."""
    script = textwrap.dedent(
        f"""
        import resource, signal, torch
        from safetensors.torch import save_file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
        try:
            save_file({{"a": torch.zeros(1000)}}, {str(tmp_path / "a.safetensors")!r})
        except Exception as e:
            print(repr(e))
        try:
            with open({str(tmp_path / "a.json")!r}, "w") as f:
                f.write("x" * 10000)
        except Exception as e:
            print(repr(e), e.filename)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert lines == [
        repr(rust_io_error(errno.EFBIG)),
        f"{OSError(errno.EFBIG, os.strerror(errno.EFBIG))!r} None",
    ], out.stderr


def test_fsync_error_on_a_file_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(tmp_path)
    run.save(2)
    before = _snapshot(tmp_path)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if not os.path.isdir(f"/proc/self/fd/{fd}"):
            # The kernel lost the written pages (writeback error): the data is not on disk.
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        run.save(4)
    monkeypatch.setattr(os, "fsync", real_fsync)
    # checkpoint-2 as it was; the unpublished work folder may stay until the next save.
    assert {k: v for k, v in _snapshot(tmp_path).items() if k.startswith("checkpoint-")} == before
    assert get_last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"
    assert run.save(4) == tmp_path / "checkpoint-4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_disk_full_during_training_then_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the Trainer: train() stops with the error, a resume later finishes the run."""
    from crash_job import make_trainer

    trainer = make_trainer(str(tmp_path))
    real_save = trainer._save_checkpoint
    saves: list[int] = []

    def save_with_full_disk_at_step_6(model: Any, trial: Any) -> None:
        saves.append(trainer.state.global_step)
        if trainer.state.global_step == 6:
            with failing_write(monkeypatch, "optimizer.safetensors", errno.ENOSPC):
                return real_save(model, trial)
        return real_save(model, trial)

    trainer._save_checkpoint = save_with_full_disk_at_step_6  # type: ignore[method-assign]
    with pytest.raises(Exception, match="No space left on device"):
        trainer.train()
    assert saves == [3, 6]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-3"]
    assert_loads_fully(tmp_path / "checkpoint-3")
    resumed = make_trainer(str(tmp_path))
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 12
    assert get_last_checkpoint(tmp_path) == tmp_path / "checkpoint-12"
    assert checkpoint_io.tmp_sibling(tmp_path / "checkpoint-6").exists() is False
