"""Factories for the `classifier` example job: two interleaved spirals, a small MLP.

`trainer train examples/classifier/job.yaml` imports this module because it sits beside
the job file. Each function is a factory: the job file names it, `trainer` calls it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from trainer import EarlyStoppingCallback
from trainer.jobs import Datasets


class SpiralClassifier(nn.Module):
    """x (2 coordinates) -> which of the two spirals it lies on."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 2),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        logits = self.net(x)
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return {"loss": loss, "logits": logits}


def make_model(hidden: int = 32) -> SpiralClassifier:
    return SpiralClassifier(hidden)


def _spirals(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    radius = torch.rand(count, generator=generator)
    angle = 2 * math.pi * radius + math.pi * labels
    noise = 0.03 * torch.randn(count, 2, generator=generator)
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1) + noise
    return [{"x": points[i], "labels": labels[i]} for i in range(count)]


def make_data(train_size: int = 2000, eval_size: int = 400) -> Datasets:
    return Datasets(train=_spirals(train_size, seed=0), eval=_spirals(eval_size, seed=1))


def make_metrics() -> Callable[[Any], dict[str, float]]:
    def compute_metrics(prediction: Any) -> dict[str, float]:
        predicted = np.argmax(prediction.predictions, axis=-1)
        return {"accuracy": float((predicted == prediction.label_ids).mean())}

    return compute_metrics


def make_early_stopping(patience: int = 3) -> EarlyStoppingCallback:
    return EarlyStoppingCallback(early_stopping_patience=patience)
