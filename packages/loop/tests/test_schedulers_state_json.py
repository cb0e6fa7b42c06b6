"""Scheduler state saved as JSON resumes every schedule exactly, with no pickle."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
import torch

from trainer_loop.schedulers import (
    SCHEDULER_NAMES,
    get_scheduler,
    load_scheduler_state_from_json,
    scheduler_state_to_json,
)

KWARGS: dict[str, dict[str, Any]] = {
    "cosine": {"num_cycles": 1.25},
    "cosine_with_restarts": {"num_cycles": 3},
    "polynomial": {"lr_end": 1e-4, "power": 2.0},
    "inverse_sqrt": {"timescale": 5},
    "reduce_lr_on_plateau": {"patience": 1, "factor": 0.5, "cooldown": 1},
    "cosine_with_min_lr": {"min_lr": 1e-3},
    "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1, "warmup_lr_rate": 0.05},
    "warmup_stable_decay": {"num_decay_steps": 8, "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
    "greedy": {"patience": 1, "factor": 0.5, "smooth": True, "window_size": 3, "min_lr": 0.01},
}
METRIC_DRIVEN = ("reduce_lr_on_plateau", "greedy")
METRICS = [3.0, 2.0, 1.0, 1.0, 1.0, 1.2, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.2] * 2


def _build(name: str) -> tuple[torch.optim.Optimizer, Any]:
    params = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))]
    optimizer = torch.optim.SGD(
        [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}], lr=0.1, momentum=0.9
    )
    scheduler = get_scheduler(name, optimizer, 4, 24, copy.deepcopy(KWARGS.get(name)))
    return optimizer, scheduler


def _advance(name: str, optimizer: Any, scheduler: Any, steps: range) -> list[list[float]]:
    lrs = []
    for step in steps:
        optimizer.step()
        if name in METRIC_DRIVEN:
            scheduler.step(METRICS[step])
        else:
            scheduler.step()
        lrs.append(
            [group["lr"] for group in optimizer.param_groups] + list(scheduler.get_last_lr())
        )
    return lrs


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_json_round_trip_continues_identically(name: str) -> None:
    optimizer, scheduler = _build(name)
    _advance(name, optimizer, scheduler, range(11))
    text = json.dumps(scheduler_state_to_json(scheduler), allow_nan=False)
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    expected = _advance(name, optimizer, scheduler, range(11, len(METRICS)))

    resumed_optimizer, resumed = _build(name)
    resumed_optimizer.load_state_dict(optimizer_state)
    load_scheduler_state_from_json(resumed, json.loads(text))
    assert _advance(name, resumed_optimizer, resumed, range(11, len(METRICS))) == expected


@pytest.mark.parametrize("name", ["reduce_lr_on_plateau", "greedy"])
def test_infinite_best_survives_strict_json(name: str) -> None:
    _, scheduler = _build(name)
    text = json.dumps(scheduler_state_to_json(scheduler), allow_nan=False)
    _, fresh = _build(name)
    fresh.best = 0.0
    load_scheduler_state_from_json(fresh, json.loads(text))
    assert math.isinf(fresh.best)
    assert fresh.state_dict() == scheduler.state_dict()


def test_lambda_settings_come_from_the_saved_state() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    saved = get_scheduler("linear", optimizer, 2, 10)
    state = json.loads(json.dumps(scheduler_state_to_json(saved)))
    other = get_scheduler(
        "linear", torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0), 0, 50
    )
    load_scheduler_state_from_json(other, state)
    assert other.lr_lambdas[0](1) == 0.5  # warmup of 2 steps, as saved


def test_tuples_non_string_keys_and_tag_like_dicts_round_trip() -> None:
    class Holder:
        def __init__(self, state: dict[str, Any]) -> None:
            self.state = state

        def state_dict(self) -> dict[str, Any]:
            return self.state

        def load_state_dict(self, state: dict[str, Any]) -> None:
            self.state = state

    state = {
        "betas": (0.9, 0.999),
        "by_index": {0: [1.5, float("-inf")], 1: None},
        "looks_tagged": {"__float__": "inf"},
        "nan": float("nan"),
    }
    loaded = Holder({})
    load_scheduler_state_from_json(
        loaded, json.loads(json.dumps(scheduler_state_to_json(Holder(state))))
    )
    assert loaded.state["betas"] == (0.9, 0.999)
    assert loaded.state["by_index"] == {0: [1.5, float("-inf")], 1: None}
    assert loaded.state["looks_tagged"] == {"__float__": "inf"}
    assert math.isnan(loaded.state["nan"])


def test_state_without_a_json_form_is_refused_with_its_path() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scheduler.base_lrs = [torch.tensor(1.0)]
    with pytest.raises(TypeError, match=r"state_dict.base_lrs\[0\] is a Tensor"):
        scheduler_state_to_json(scheduler)
