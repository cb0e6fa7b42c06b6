"""bf16 on a GPU through the Trainer: autocast runs the model in bf16, no GradScaler is made,
every optimizer step is taken and moves the scheduler, as transformers does (skipped
without CUDA).

Run with pytest, or alone: `python tests/gpu/test_bf16_trainer.py` (pytest not needed then).
The fp16 counterpart, with a forced overflow, is `test_fp16_overflow.py` beside this file.
"""

from __future__ import annotations

import itertools
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


class Net(torch.nn.Module):
    """Records the dtype its first layer produced: bf16 when autocast is on."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 1)
        )
        self.dtypes: set[torch.dtype] = set()

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        self.dtypes.add(logits.dtype)
        return {"loss": torch.nn.functional.mse_loss(logits.float(), labels), "logits": logits}


def _train(trainer_cls: Any, args_cls: Any, **extra: Any) -> tuple[Any, Recorder]:
    return train(trainer_cls, args_cls, Net(), "bf16", **extra)


def _ours(**extra: Any) -> tuple[Any, Recorder]:
    from trainer_args import TrainingArguments
    from trainer_loop import Trainer

    return _train(Trainer, TrainingArguments, **extra)


def check_bf16_run(trainer: Any, recorder: Recorder) -> None:
    """The checks of one bf16 run (a function, so that it also runs on the CPU by hand)."""
    assert trainer.accelerator.mixed_precision == "bf16"
    assert trainer.accelerator.scaler is None  # bf16 needs no loss scaling
    assert trainer.model.dtypes == {torch.bfloat16}, trainer.model.dtypes  # autocast was on
    assert trainer.state.global_step == MAX_STEPS
    assert len(recorder.steps) == MAX_STEPS
    assert all(not s["skipped"] and s["changed"] for s in recorder.steps), recorder.steps
    rates = logs(trainer, "learning_rate")
    assert len(rates) == MAX_STEPS and all(a > b for a, b in itertools.pairwise(rates)), rates
    losses = logs(trainer, "loss")
    assert len(losses) == MAX_STEPS and all(math.isfinite(x) for x in losses), losses
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 masters


def check_same_as_transformers(reference: Any, ours: Any) -> None:
    for key in ("loss", "learning_rate", "grad_norm"):
        ref_values, our_values = logs(reference, key), logs(ours, key)
        assert len(ref_values) == len(our_values) == MAX_STEPS, (key, ref_values, our_values)
        for a, b in zip(ref_values, our_values):
            assert math.isclose(a, b, rel_tol=1e-4), (key, ref_values, our_values)
    for (name, ref_param), our_param in zip(
        reference.model.named_parameters(), ours.model.parameters()
    ):
        torch.testing.assert_close(our_param, ref_param, rtol=1e-4, atol=1e-6, msg=name)


def test_bf16_steps_every_step_and_moves_the_schedule() -> None:
    check_bf16_run(*_ours())


def test_same_as_transformers() -> None:
    try:
        import transformers
    except ImportError:
        if pytest is not None:
            pytest.skip("transformers is the reference")
        return
    reference, ref_recorder = _train(transformers.Trainer, transformers.TrainingArguments)
    ours, our_recorder = _ours()
    check_bf16_run(reference, ref_recorder)  # what transformers does is what we check
    assert our_recorder.steps == ref_recorder.steps
    check_same_as_transformers(reference, ours)


if __name__ == "__main__":
    sys.exit(run_tests(globals(), needs="CUDA", available=HAS_CUDA))
