"""The tiny regression job of the checkpoint and crash tests: data, model, arguments, Trainer.

Shuffled data, dropout, gradient accumulation 2 and (by default) two dataloader workers, so
an exact resume has to restore the data order, every RNG, the optimizer and the scheduler.
Imports torch and our Trainer (unlike the rest of `support`).
"""

from __future__ import annotations

from typing import Any

import torch

from trainer_args import TrainingArguments
from trainer_loop import Trainer

SAMPLES = 16


class RegressionData(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """`n` examples `{"x": 4 floats, "labels": 2 floats}`: a random linear map plus `noise`."""

    def __init__(self, n: int = SAMPLES, seed: int = 0, noise: float = 0.1) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x @ torch.randn(4, 2, generator=generator)
        if noise:
            self.y = self.y + noise * torch.randn(n, 2, generator=generator)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class DropoutNet(torch.nn.Module):
    """4 -> 16 -> 2 with dropout 0.3; MSE loss when labels are given."""

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


def job_options(output_dir: str, **overrides: Any) -> dict[str, Any]:
    """The job's TrainingArguments keywords: 12 steps, a checkpoint every 2, cosine schedule."""
    options: dict[str, Any] = {
        "output_dir": output_dir,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 2,  # 16 samples: 8 micro-batches, 4 optimizer steps per epoch
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
    return options


def make_args(output_dir: str, **overrides: Any) -> TrainingArguments:
    return TrainingArguments(**job_options(output_dir, **overrides))


def make_trainer(
    output_dir: str,
    callbacks: list[Any] | None = None,
    *,
    train_dataset: torch.utils.data.Dataset | None = None,  # type: ignore[type-arg]
    eval_dataset: torch.utils.data.Dataset | None = None,  # type: ignore[type-arg]
    trainer_cls: Any = Trainer,
    args_cls: Any = TrainingArguments,
    **overrides: Any,
) -> Any:
    """A Trainer on the job (ours, or `transformers.Trainer` and `transformers.TrainingArguments`
    passed as `trainer_cls` and `args_cls`); the model is initialised from the run's seed."""
    args = args_cls(**job_options(output_dir, **overrides))
    torch.manual_seed(args.seed)
    return trainer_cls(
        model=DropoutNet(),
        args=args,
        train_dataset=RegressionData() if train_dataset is None else train_dataset,
        eval_dataset=eval_dataset,
        callbacks=callbacks,
    )
