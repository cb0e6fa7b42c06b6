"""MemoryTracker: transformers' metric names, stages from the caller, skipping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trainer_dist.memory import MemoryTracker

MB = 2**20


class FakeTrainer:
    """Calls the tracker from methods named like the Trainer's, as transformers does."""

    def __init__(self, skip: bool = False, tracker_cls: Any = MemoryTracker) -> None:
        self.tracker = tracker_cls(skip)
        self.tracker.start()
        self.kept: list[Any] = []
        self.tracker.stop_and_update_metrics()

    def train(self) -> dict[str, Any]:
        self.tracker.start()
        self.kept.append(np.ones(64 * MB // 8))  # 64 MB kept alive
        transient = np.ones(128 * MB // 8)  # 128 MB freed before the end
        transient.sum()
        del transient
        metrics: dict[str, Any] = {"train_runtime": 1.0}
        self.evaluate(metrics)  # nested: must not disturb the train numbers
        self.tracker.stop_and_update_metrics(metrics)
        return metrics

    def evaluate(self, outer: dict[str, Any] | None = None) -> dict[str, Any]:
        self.tracker.start()
        metrics: dict[str, Any] = {}
        self.tracker.stop_and_update_metrics(metrics)
        return metrics


def test_train_metrics_have_transformers_keys_and_sizes() -> None:
    trainer = FakeTrainer()
    metrics = trainer.train()
    for key in (
        "init_mem_cpu_alloc_delta",
        "init_mem_cpu_peaked_delta",
        "train_mem_cpu_alloc_delta",
        "train_mem_cpu_peaked_delta",
        "before_init_mem_cpu",
    ):
        assert isinstance(metrics[key], int), key
    assert metrics["train_mem_cpu_alloc_delta"] >= 48 * MB
    assert metrics["train_mem_cpu_peaked_delta"] >= 64 * MB
    assert metrics["before_init_mem_cpu"] > 0
    # init is reported once, with the first stage; a later eval reports its own keys
    assert set(trainer.evaluate()) == {"eval_mem_cpu_alloc_delta", "eval_mem_cpu_peaked_delta"}


@pytest.mark.reference
def test_same_metric_names_as_transformers_tracker() -> None:
    """transformers' TrainerMemoryTracker, called the same way, reports the same keys."""
    trainer_utils = pytest.importorskip("transformers.trainer_utils")
    pytest.importorskip("psutil")  # without it transformers' tracker reports nothing
    ours, theirs = FakeTrainer(), FakeTrainer(tracker_cls=trainer_utils.TrainerMemoryTracker)
    our_train, their_train = ours.train(), theirs.train()
    assert sorted(our_train) == sorted(their_train)
    assert sorted(ours.evaluate()) == sorted(theirs.evaluate())


def test_skip_memory_metrics_adds_nothing() -> None:
    trainer = FakeTrainer(skip=True)
    metrics = trainer.train()
    assert metrics == {"train_runtime": 1.0}


def test_unknown_caller_needs_an_explicit_stage() -> None:
    tracker = MemoryTracker(False)
    with pytest.raises(ValueError, match="only expect to be called from"):
        tracker.start()
    tracker.start(stage="test")
    metrics: dict[str, Any] = {}
    tracker.stop_and_update_metrics(metrics, stage="test")
    assert "test_mem_cpu_alloc_delta" in metrics
