"""fp16 overflow on a GPU: the GradScaler skips the step, the loop holds the scheduler and
goes on, and the log shows it, as transformers does (skipped without CUDA).

Run with pytest, or alone: `python tests/gpu/test_fp16_overflow.py` (pytest not needed then).
The model's loss is multiplied by 1e8 at chosen optimizer steps: the scaled fp16 gradients
overflow, so GradScaler skips `optimizer.step()`, halves its scale, and
`accelerator.optimizer_step_was_skipped` is True; the learning-rate schedule must not
advance on those steps and the weights must not change.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package
from support.gpu_runner import run_tests
from support.precision_run import MAX_STEPS, Recorder, logs, train

try:
    import pytest
except ImportError:  # standalone run without pytest
    pytest = None  # type: ignore[assignment]

HAS_CUDA = torch.cuda.is_available()
if pytest is not None:
    pytestmark = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")

OVERFLOW_STEPS = {4, 5}  # 1-based optimizer steps whose loss is blown up


class OverflowNet(torch.nn.Module):
    """Its loss is multiplied by 1e8 during the optimizer steps in OVERFLOW_STEPS."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 1)
        )
        self.forward_calls = 0  # one micro-batch per step: the call number is the step number

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        loss = torch.nn.functional.mse_loss(logits.float(), labels)
        if self.training:
            self.forward_calls += 1
            if self.forward_calls in OVERFLOW_STEPS:
                loss = loss * 1e8
        return {"loss": loss, "logits": logits}


def _train(trainer_cls: Any, args_cls: Any, **extra: Any) -> tuple[Any, Recorder]:
    return train(trainer_cls, args_cls, OverflowNet(), "fp16", **extra)


def _ours(**extra: Any) -> tuple[Any, Recorder]:
    from trainer_args import TrainingArguments
    from trainer_loop import Trainer

    return _train(Trainer, TrainingArguments, **extra)


def test_overflow_skips_the_step_and_holds_the_schedule() -> None:
    trainer, recorder = _ours()
    assert trainer.state.global_step == MAX_STEPS  # the run goes on after the overflow
    assert trainer.accelerator.scaler is not None
    steps = recorder.steps
    for number in OVERFLOW_STEPS:
        step = steps[number - 1]
        assert step["skipped"] and not step["changed"], (number, steps)
        assert step["scale"] == steps[number - 2]["scale"] / 2, (number, steps)  # halved
    last = steps[-1]
    assert not last["skipped"] and last["changed"], steps
    rates = logs(trainer, "learning_rate")
    skipped = [i for i, step in enumerate(steps) if step["skipped"]]
    for i in skipped:
        if i + 1 < len(rates):
            assert rates[i + 1] == rates[i], (i, rates)  # the scheduler did not advance
    # The log says what happened: the overflowing steps' gradient norm is inf or nan.
    norms = logs(trainer, "grad_norm")
    assert all(not math.isfinite(norms[n - 1]) for n in OVERFLOW_STEPS), norms
    assert all(math.isfinite(p.detach().float().sum().item()) for p in trainer.model.parameters())


def test_same_as_transformers() -> None:
    try:
        import transformers
    except ImportError:
        if pytest is not None:
            pytest.skip("transformers is the reference")
        return
    reference, ref_recorder = _train(transformers.Trainer, transformers.TrainingArguments)
    ours, our_recorder = _ours()
    assert [s["skipped"] for s in our_recorder.steps] == [s["skipped"] for s in ref_recorder.steps]
    assert [s["scale"] for s in our_recorder.steps] == [s["scale"] for s in ref_recorder.steps]
    for key in ("loss", "learning_rate", "grad_norm"):
        ref_values, our_values = logs(reference, key), logs(ours, key)
        assert len(ref_values) == len(our_values), key
        for a, b in zip(ref_values, our_values):
            assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-4), (
                key,
                ref_values,
                our_values,
            )
    for (name, ref_param), our_param in zip(
        reference.model.named_parameters(), ours.model.parameters()
    ):
        torch.testing.assert_close(our_param, ref_param, rtol=1e-4, atol=1e-6, msg=name)


if __name__ == "__main__":
    sys.exit(run_tests(globals(), needs="CUDA", available=HAS_CUDA))
