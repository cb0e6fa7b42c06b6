"""A tiny training job for the checkpoint tests: imported in-process, or run as a script.

Shuffled data, dropout, gradient accumulation 2 and two dataloader workers, so an exact
resume has to restore the data order, every RNG, the optimizer and the scheduler.

    python tiny_job.py OUT [--resume] [--sigterm-at-step N]
                           [--sigkill-at-step N | --sigkill-at-write N | --sigkill-at-fsync N]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

import torch

from trainer_args import TrainingArguments
from trainer_loop import Trainer, TrainerCallback

SAMPLES = 16


class RegressionData(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int = SAMPLES, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x @ torch.randn(4, 2, generator=generator) + 0.1 * torch.randn(
            n, 2, generator=generator
        )

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class DropoutNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(4, 16)
        self.dropout = torch.nn.Dropout(0.3)
        self.out = torch.nn.Linear(16, 2)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        logits = self.out(torch.relu(self.dropout(self.hidden(x))))
        result = {"logits": logits}
        if labels is not None:
            result["loss"] = torch.nn.functional.mse_loss(logits, labels)
        return result


def make_args(output_dir: str, **overrides: Any) -> TrainingArguments:
    options: dict[str, Any] = {
        "output_dir": output_dir,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,  # 8 micro-batches = 4 optimizer steps per epoch
        "dataloader_num_workers": 2,
        "max_steps": 12,
        "save_steps": 2,
        "logging_steps": 1,
        "learning_rate": 0.05,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 2,
        "seed": 7,
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
    }
    options.update(overrides)
    return TrainingArguments(**options)


def make_trainer(output_dir: str, callbacks: list[Any] | None = None, **overrides: Any) -> Trainer:
    args = make_args(output_dir, **overrides)
    torch.manual_seed(args.seed)
    return Trainer(
        model=DropoutNet(), args=args, train_dataset=RegressionData(), callbacks=callbacks
    )


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
        from trainer_loop.checkpointing import PreemptionCallback

        # The signal arrives before the preemption callback's on_step_end: it stops at this step.
        callbacks += [SignalAtStep(cli.sigterm_at_step, signal.SIGTERM), PreemptionCallback()]
        overrides["save_strategy"] = "no"  # the only checkpoint is the preemption one
    trainer = make_trainer(cli.out, callbacks, **overrides)
    trainer.train(resume_from_checkpoint=True if cli.resume else None)
    print(f"finished at step {trainer.state.global_step}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
