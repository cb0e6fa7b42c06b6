"""Side by side with transformers: seeding draws and memory metric keys."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from trainer_dist.memory import MemoryTracker
from trainer_dist.seeding import set_seed

pytestmark = pytest.mark.reference


def _draws() -> list[Any]:
    return [
        random.random(),
        np.random.rand(2).tolist(),
        torch.rand(2).tolist(),
        torch.randn(2).tolist(),
    ]


def test_set_seed_draws_like_transformers() -> None:
    from transformers import set_seed as reference_set_seed

    reference_set_seed(42)
    expected = _draws()
    set_seed(42)
    assert _draws() == expected


class _Calls:
    """Calls a tracker from methods named like the Trainer's (stages come from the names)."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self.tracker.start()
        self.tracker.stop_and_update_metrics()

    def train(self) -> dict[str, Any]:
        self.tracker.start()
        metrics: dict[str, Any] = {}
        self.tracker.stop_and_update_metrics(metrics)
        return metrics

    def predict(self) -> dict[str, Any]:
        self.tracker.start()
        metrics: dict[str, Any] = {}
        self.tracker.stop_and_update_metrics(metrics)
        return metrics


def test_memory_metric_keys_like_transformers() -> None:
    from transformers.trainer_utils import TrainerMemoryTracker

    ours, reference = _Calls(MemoryTracker(False)), _Calls(TrainerMemoryTracker(False))
    for method in ("train", "predict"):
        assert set(getattr(ours, method)()) == set(getattr(reference, method)())


def test_importing_the_package_loads_neither_torch_nor_accelerate() -> None:
    code = "import sys, trainer_dist; print(sorted({'torch', 'accelerate'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
