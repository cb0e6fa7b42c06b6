"""The step plan clips exactly as the installed accelerate's `clip_grad_norm_` does."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator

from trainer_dist import step_plan
from trainer_dist.step_plan import StepPlan

CASES = {
    "finite, clipped": (1.0, [3.0, -4.0]),
    "finite, not clipped": (100.0, [0.3, 0.4]),
    "no clipping (max_norm=inf)": (float("inf"), [3.0, -4.0]),
    "an infinite gradient, max_norm=inf": (float("inf"), [float("inf"), 1.0]),
    "an infinite gradient, clipped": (1.0, [float("inf"), 1.0]),
    "a NaN gradient": (1.0, [float("nan"), 1.0]),
    "a norm whose square overflows float32": (1.0, [3e19, 1.0]),
    "a norm whose square underflows float32": (1.0, [1e-30, 2e-30]),
    "a subnormal norm": (1.0, [1e-40, 0.0]),
}


def _params(values: list[float], with_grad: bool = True) -> list[torch.nn.Parameter]:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in values]
    for param, value in zip(params, values):
        if with_grad:
            param.grad = torch.full((2,), value)
    return params


@pytest.fixture(params=["norm of the norm skipped", "norm of the norm taken"])
def skip_known(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways the plan may clip: skipping the norm of the one norm where the probe allows
    it, and taking it (what a torch build without the exact one-element path gets)."""
    if request.param == "norm of the norm taken":
        monkeypatch.setattr(step_plan, "_norm_of_one_is_itself", lambda device, dtype: False)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.usefixtures("skip_known")
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_norm_of_one_norm_is_the_norm_itself_on_this_torch(dtype: torch.dtype) -> None:
    """The probe's answer holds on every non-negative value of the dtype we try, extreme
    ones included: skipping the norm of the norm changes no bit."""
    step_plan._norm_of_one_is_itself.cache_clear()
    assert step_plan._norm_of_one_is_itself(torch.device("cpu"), dtype)
    generator = torch.Generator().manual_seed(0)
    exponents = torch.randint(-300, 300, (4000,), generator=generator).double()
    values = torch.rand(4000, dtype=torch.float64, generator=generator) * 10.0**exponents
    info = torch.finfo(dtype)
    values = torch.cat([values, torch.tensor([0.0, info.tiny, info.max, float("inf")])])
    values = values.to(dtype)
    norms = torch.stack([torch.linalg.vector_norm(v.unsqueeze(0), 2.0) for v in values])
    assert torch.equal(norms, values)


def test_probe_rejects_a_norm_that_squares_in_its_own_dtype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A torch whose one-element norm is `sqrt(x * x)` in float32 would change extreme norms:
    the probe says no, and the plan takes the norm of the norm as accelerate does."""

    def squaring_norm(x: torch.Tensor, ord: float = 2.0) -> torch.Tensor:
        return (x * x).sum().sqrt()

    step_plan._norm_of_one_is_itself.cache_clear()
    monkeypatch.setattr(torch.linalg, "vector_norm", squaring_norm)
    try:
        assert not step_plan._norm_of_one_is_itself(torch.device("cpu"), torch.float32)
    finally:
        step_plan._norm_of_one_is_itself.cache_clear()
