"""The tiny regression job (support.regression_job) run as a script, with faults on demand.

python tiny_job.py OUT [--resume] [--sigterm-at-step N]
                       [--sigkill-at-step N | --sigkill-at-write N | --sigkill-at-fsync N]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package

from support.regression_job import make_trainer

from trainer_loop import TrainerCallback


class SignalAtStep(TrainerCallback):
    """Sends this process a real signal at the end of one step."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def _sigkill_at_call(module: Any, name: str, count: int) -> None:
    """SIGKILL in the middle of a checkpoint save, at the `count`-th call of `module.name`."""
    original = getattr(module, name)
    calls = [0]

    def call_then_maybe_die(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == count:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(module, name, call_then_maybe_die)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sigkill-at-step", type=int)
    parser.add_argument("--sigkill-at-fsync", type=int, help="while publishing a checkpoint")
    parser.add_argument("--sigkill-at-write", type=int, help="while writing a checkpoint's files")
    parser.add_argument("--sigterm-at-step", type=int)
    cli = parser.parse_args(argv)
    callbacks: list[Any] = []
    overrides: dict[str, Any] = {}
    if cli.sigkill_at_step:
        callbacks.append(SignalAtStep(cli.sigkill_at_step, signal.SIGKILL))
    if cli.sigkill_at_fsync:
        from trainer_loop.checkpoints import io

        _sigkill_at_call(io, "fsync_path", cli.sigkill_at_fsync)
    if cli.sigkill_at_write:
        from trainer_loop.checkpoints import optimizer_state

        _sigkill_at_call(optimizer_state, "write_state", cli.sigkill_at_write)
    if cli.sigterm_at_step:
        from trainer_loop.callbacks.preemption import PreemptionCallback

        # The signal arrives before the preemption callback's on_step_end: it stops at this step.
        callbacks += [SignalAtStep(cli.sigterm_at_step, signal.SIGTERM), PreemptionCallback()]
        overrides["save_strategy"] = "no"  # the only checkpoint is the preemption one
    trainer = make_trainer(cli.out, callbacks, **overrides)
    trainer.train(resume_from_checkpoint=True if cli.resume else None)
    print(f"finished at step {trainer.state.global_step}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
