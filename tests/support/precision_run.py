"""A tiny regression run under mixed precision, for the GPU precision tests (bf16, fp16).

`train` builds a Trainer (ours or transformers') on `Data` with `precision_args`, records
each optimizer step with `Recorder` (skipped or not, whether the weights moved, and the
gradient scaler's scale when there is one), trains, and returns both.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from typing import Any

import torch

from support.accelerate_state import reset_accelerate

__all__ = ["MAX_STEPS", "Data", "Recorder", "logs", "precision_args", "train"]

MAX_STEPS = 10


class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 16, generator=generator)
        self.y = self.x[:, :4].sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


def precision_args(precision: str, **extra: Any) -> dict[str, Any]:
    """TrainingArguments keywords of the run: `precision` is "bf16" or "fp16"."""
    return {
        "output_dir": tempfile.mkdtemp(prefix=f"gpu-{precision}-"),
        precision: True,
        "max_steps": MAX_STEPS,
        "per_device_train_batch_size": 8,
        "learning_rate": 1e-3,
        "lr_scheduler_type": "linear",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "train_sampling_strategy": "sequential",
        "seed": 3,
        **extra,
    }


class Recorder:
    """Per optimizer step: was it skipped, did the weights change, and the scaler's scale
    when there is a scaler. Duck-typed, so that both trainers accept it; `trainer` is set
    once the trainer exists."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.before: float = 0.0
        self.steps: list[dict[str, Any]] = []

    def _weights(self) -> float:
        return float(sum(p.detach().double().sum() for p in self.trainer.model.parameters()))

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.before = self._weights()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        accelerator = self.trainer.accelerator
        step = {
            "skipped": bool(accelerator.optimizer_step_was_skipped),
            "changed": self._weights() != self.before,
        }
        if accelerator.scaler is not None:
            step["scale"] = float(accelerator.scaler.get_scale())
        self.steps.append(step)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


def train(
    trainer_cls: Any, args_cls: Any, model: torch.nn.Module, precision: str, **extra: Any
) -> tuple[Any, Recorder]:
    """Train a copy of `model` with `trainer_cls`; returns the trainer and its recorder."""
    reset_accelerate()
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = trainer_cls(
            model=copy.deepcopy(model),
            args=args_cls(**precision_args(precision, **extra)),
            train_dataset=Data(),
            callbacks=[recorder],
        )
    recorder.trainer = trainer
    trainer.train()
    return trainer, recorder


def logs(trainer: Any, key: str) -> list[float]:
    """The values of `key` in the trainer's log history, in order."""
    return [entry[key] for entry in trainer.state.log_history if key in entry]
