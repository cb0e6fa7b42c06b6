"""NaN/inf losses, exploding gradients and skipped optimizer steps, side by side with transformers.

The model goes wrong at a chosen forward call; both trainers run on copies of it with the
same arguments. The run must go on (or stop) as transformers' does, and the log must say
what happened with the same numbers: a filtered NaN shows as the running mean, an
unfiltered one as NaN, an overflowing gradient as grad_norm inf/nan.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from side_by_side import (
    Data,
    FaultyNet,
    assert_same_logs,
    assert_same_weights,
    base_args,
    losses,
    run_both,
)

pytest.importorskip("transformers")
pytestmark = [pytest.mark.reference, pytest.mark.slow]


@pytest.mark.parametrize("nan_filter", [True, False])
@pytest.mark.parametrize(
    ("faults", "overrides"),
    [
        pytest.param({3: "nan"}, {}, id="nan-loss"),
        pytest.param({2: "inf", 6: "nan"}, {"logging_steps": 2}, id="inf-and-nan-loss-logging-2"),
        pytest.param({3: "nan"}, {"gradient_accumulation_steps": 2}, id="nan-micro-batch-ga2"),
        pytest.param({4: "poison"}, {}, id="nan-poisons-the-weights"),
    ],
)
def test_nan_inf_loss(
    tmp_path: Path, nan_filter: bool, faults: dict[int, str], overrides: dict[str, Any]
) -> None:
    args = base_args(str(tmp_path), logging_nan_inf_filter=nan_filter, **overrides)
    reference, ours = run_both(FaultyNet(faults), args, train_dataset=Data())
    assert_same_logs(reference, ours)
    assert_same_weights(reference, ours)
    logged, norms = losses(ours), losses(ours, "grad_norm")
    if "poison" in faults.values():
        # NaN weights: every later loss is NaN. The filter logs them as the running mean of a
        # window that holds only NaNs, i.e. 0.0 (transformers too); grad_norm shows the NaN.
        assert math.isnan(norms[3]), norms
        assert logged[4:] == [0.0] * 4 if nan_filter else all(map(math.isnan, logged[3:]))
    elif nan_filter:
        assert all(math.isfinite(v) for v in logged), logged
        assert all(math.isfinite(v) for v in norms), norms  # the gradient stayed finite
    else:
        assert any(not math.isfinite(v) for v in logged), logged  # the log shows the fault
    steps = 8 // overrides.get("gradient_accumulation_steps", 1)
    assert ours.state.global_step == reference.state.global_step == steps  # the run goes on


@pytest.mark.parametrize("max_grad_norm", [1.0, 0.0])
def test_exploding_gradient(tmp_path: Path, max_grad_norm: float) -> None:
    args = base_args(str(tmp_path), max_grad_norm=max_grad_norm)
    reference, ours = run_both(FaultyNet({3: "explode"}), args, train_dataset=Data())
    assert_same_logs(reference, ours)
    assert_same_weights(reference, ours)
    norms = losses(ours, "grad_norm")
    assert not math.isfinite(norms[2]), norms  # step 3's gradient overflowed: the log says so
    assert all(math.isfinite(n) for n in norms[:2]), norms


@pytest.mark.parametrize("nan_filter", [True, False])
def test_nan_eval_loss(tmp_path: Path, nan_filter: bool) -> None:
    args = base_args(
        str(tmp_path), logging_nan_inf_filter=nan_filter, eval_strategy="steps", eval_steps=2
    )
    model = FaultyNet({}, eval_faults={2: "nan", 5: "inf"})
    reference, ours = run_both(model, args, train_dataset=Data(), eval_dataset=Data(8, 1))
    assert_same_logs(reference, ours)
    eval_losses = losses(ours, "eval_loss")
    assert math.isfinite(eval_losses[0]) is nan_filter, eval_losses


def test_skipped_optimizer_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an fp16 GradScaler does on overflow, on CPU: the step is skipped and reported as
    such (`optimizer_step_was_skipped`); the scheduler then does not advance either."""
    from accelerate.optimizer import AcceleratedOptimizer

    skipped_calls = {3, 4, 7}  # 1-based optimizer.step() calls of each run
    calls: dict[int, int] = {}  # per wrapped optimizer: each trainer counts its own steps
    real_step = AcceleratedOptimizer.step

    def step(self: AcceleratedOptimizer, closure: Any = None) -> None:
        key = id(self.optimizer)
        calls[key] = calls.get(key, 0) + 1
        self._is_overflow = calls[key] in skipped_calls
        if not self._is_overflow:
            real_step(self, closure)

    monkeypatch.setattr(AcceleratedOptimizer, "step", step)
    monkeypatch.setattr(
        AcceleratedOptimizer, "step_was_skipped", property(lambda self: self._is_overflow)
    )
    args = base_args(str(tmp_path), lr_scheduler_type="linear", warmup_steps=2)
    reference, ours = run_both(FaultyNet({}), args, train_dataset=Data())
    assert sorted(calls.values()) == [8, 8]
    assert_same_logs(reference, ours)
    assert_same_weights(reference, ours)
    rates = losses(ours, "learning_rate")
    assert rates[2] == rates[3] == rates[4], rates  # held while steps 3 and 4 were skipped
    assert ours.state.global_step == 8  # skipped steps still count as steps, as transformers
