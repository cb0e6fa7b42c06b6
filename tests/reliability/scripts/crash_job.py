"""A tiny training job that SIGKILLs itself at a chosen moment (run as a script by the tests).

    python crash_job.py OUT            train to the end, resuming from OUT's last checkpoint
    CRASH_AT=PHASE:N python crash_job.py OUT      ... but die at the N-th PHASE event

Shuffled data, dropout, gradient accumulation 2, evaluation every 2 steps and a checkpoint
every 3 steps: an exact resume has to restore the data order, every RNG, the optimizer,
the scheduler and the log history. The phases (counted in this process only):

    train_forward   a training forward pass (the middle of an optimizer step)
    eval_forward    an evaluation forward pass (the middle of an evaluation)
    tensor_file     a safetensors file of a checkpoint, half written
    json_file       a JSON file of a checkpoint, half written
    publish         the rename that publishes a checkpoint (before it happens)
    published       just after that rename (before fsync of the parent and rotation)
    rotate          deleting an old checkpoint (rotation), after its optimizer files are gone

The process is killed with SIGKILL by itself, so nothing (no finally, no atexit) runs.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: the support package
from support.regression_job import RegressionData
from support.regression_job import make_trainer as make_job_trainer

from trainer_loop import Trainer
from trainer_loop.checkpoints import get_last_checkpoint

MAX_STEPS = 12
ROTATED = re.compile(r"^(\.trash-)?checkpoint-\d+(-\d+)?$")


def make_trainer(output_dir: str, **kwargs: Any) -> Any:
    """The tiny regression job with evaluation every 2 steps and rotation (no noise, no workers).

    `kwargs` go to support.regression_job.make_trainer (callbacks, trainer_cls, args_cls)."""
    return make_job_trainer(
        output_dir,
        train_dataset=RegressionData(20, seed=0, noise=0.0),  # 10 micro-batches: 5 steps per epoch
        eval_dataset=RegressionData(6, seed=1, noise=0.0),
        per_device_eval_batch_size=2,
        dataloader_num_workers=0,
        max_steps=MAX_STEPS,
        save_steps=3,
        save_total_limit=2,  # rotation runs too
        eval_strategy="steps",
        eval_steps=2,
        seed=11,
        **kwargs,
    )


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    def __init__(self, phase: str, count: int) -> None:
        self.phase, self.count, self.seen = phase, count, 0

    def hit(self, phase: str) -> bool:
        """True at the chosen event; also prints it so a test can see where the job died."""
        if phase != self.phase:
            return False
        self.seen += 1
        if self.seen == self.count:
            print(f"CRASH {phase} {self.count}", flush=True)
            return True
        return False


def _in_checkpoint_work_folder(path: Any) -> bool:
    return ".tmp-checkpoint-" in os.fspath(path) if isinstance(path, (str, os.PathLike)) else False


class _HalfWriter(io.StringIO):
    """Receives a JSON file's text; writes half of it to the real file on the first write, dies."""

    def __init__(self, real: Any) -> None:
        super().__init__()
        self.real = real

    def write(self, text: str) -> int:
        self.real.write(text[: max(1, len(text) // 2)])
        self.real.flush()
        _die()
        return 0


def install_crash(counter: _Counter, trainer: Trainer) -> None:
    model = trainer.model

    def count_forward(module: torch.nn.Module, inputs: Any) -> None:
        # A pre-hook, not a wrapper: the Trainer reads forward's signature to pick columns.
        if counter.hit("train_forward" if module.training else "eval_forward"):
            _die()

    model.register_forward_pre_hook(count_forward)

    import safetensors.torch

    from trainer_loop.checkpoints import codec, model_files

    real_save_file = safetensors.torch.save_file

    def half_save_file(tensors: Any, filename: str, metadata: Any = None) -> None:
        real_save_file(tensors, filename, metadata=metadata)
        if _in_checkpoint_work_folder(filename) and counter.hit("tensor_file"):
            size = os.path.getsize(filename)
            os.truncate(filename, size // 2)
            _die()

    for module in (safetensors.torch, codec, model_files):
        module.save_file = half_save_file  # type: ignore[attr-defined]

    real_open = builtins.open

    def counted_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        writing = "w" in mode and "b" not in mode
        if writing and _in_checkpoint_work_folder(file) and counter.hit("json_file"):
            return _HalfWriter(handle)
        return handle

    builtins.open = counted_open
    io.open = counted_open  # pathlib's write_text opens through io.open

    real_replace = os.replace

    def counted_replace(src: Any, dst: Any) -> None:
        publishing = _in_checkpoint_work_folder(src)
        if publishing and counter.hit("publish"):
            _die()
        real_replace(src, dst)
        if publishing and counter.hit("published"):
            _die()

    os.replace = counted_replace

    real_rmtree = shutil.rmtree

    def counted_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        folder = Path(path)
        # Also a renamed-away ".trash-checkpoint-N-<pid>" (deleting that way is fine), but not
        # the ".tmp-checkpoint-N.lock" claim released after each save.
        if ROTATED.match(folder.name) and counter.hit("rotate"):
            # rmtree goes in directory order, which may well reach the optimizer files first.
            for name in sorted(os.listdir(folder)):
                if name.startswith("optimizer"):
                    os.unlink(folder / name)
            _die()
        real_rmtree(path, *args, **kwargs)

    shutil.rmtree = counted_rmtree  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    out = argv[0]
    trainer = make_trainer(out)
    crash_at = os.environ.get("CRASH_AT")
    if crash_at:
        phase, count = crash_at.split(":")
        install_crash(_Counter(phase, int(count)), trainer)
    resume = get_last_checkpoint(out) is not None
    trainer.train(resume_from_checkpoint=True if resume else None)
    print(f"FINISHED {trainer.state.global_step}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
