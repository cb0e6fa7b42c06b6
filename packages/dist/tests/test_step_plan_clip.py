"""The step plan clips exactly as the installed accelerate's `clip_grad_norm_` does."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator

from trainer_dist.step_plan import StepPlan

CASES = {
    "finite, clipped": (1.0, [3.0, -4.0]),
    "finite, not clipped": (100.0, [0.3, 0.4]),
    "no clipping (max_norm=inf)": (float("inf"), [3.0, -4.0]),
    "an infinite gradient, max_norm=inf": (float("inf"), [float("inf"), 1.0]),
    "an infinite gradient, clipped": (1.0, [float("inf"), 1.0]),
    "a NaN gradient": (1.0, [float("nan"), 1.0]),
    "a norm whose square overflows float32": (1.0, [3e19, 1.0]),
}


def _params(values: list[float], with_grad: bool = True) -> list[torch.nn.Parameter]:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in values]
    for param, value in zip(params, values):
        if with_grad:
            param.grad = torch.full((2,), value)
    return params


@pytest.mark.parametrize("case", CASES)
def test_same_norm_and_gradients_as_accelerate(case: str) -> None:
    max_norm, values = CASES[case]
    accelerator = Accelerator(cpu=True)
    model = torch.nn.Linear(1, 1)
    optimizer = accelerator.prepare(torch.optim.SGD(model.parameters(), lr=0.1))
    plan = StepPlan.build(accelerator, optimizer)
    assert plan.clip_directly
    ours, theirs = _params(values), _params(values)
    our_norm = plan.clip(ours, max_norm)
    their_norm = accelerator.clip_grad_norm_(theirs, max_norm)
    assert torch.equal(our_norm, their_norm) or (our_norm.isnan() and their_norm.isnan())
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine.grad, reference.grad, rtol=0, atol=0, equal_nan=True)


def test_parameters_without_gradients() -> None:
    accelerator = Accelerator(cpu=True)
    plan = StepPlan.build(
        accelerator, accelerator.prepare(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]))
    )
    norm = plan.clip(_params([1.0, 2.0], with_grad=False), 1.0)
    assert torch.equal(norm, accelerator.clip_grad_norm_(_params([1.0, 2.0], with_grad=False), 1.0))
