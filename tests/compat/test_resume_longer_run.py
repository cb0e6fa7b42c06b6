"""Resuming with a longer run: the schedule's shape from the new arguments, its position from
the checkpoint, as transformers does, for every scheduler type.

Train to step 10 with `max_steps=10`, then resume from that checkpoint with `max_steps=20`
(or with more epochs), side by side with transformers: the logged learning rates of all
20 steps, the losses and the final weights must agree.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.reference
transformers = pytest.importorskip("transformers")

import trainer  # noqa: E402

# What each schedule needs besides the warmup and the run length.
SCHEDULE_KWARGS: dict[str, dict[str, Any]] = {
    "cosine_with_min_lr": {"min_lr_rate": 0.1},
    "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1},
    "warmup_stable_decay": {"num_decay_steps": 4},
    "polynomial": {"lr_end": 1e-4, "power": 2.0},
    "cosine_with_restarts": {"num_cycles": 2},
    "greedy": {"patience": 1},
}
# These step on an evaluation metric, so the run evaluates every few steps.
ON_METRICS = ("reduce_lr_on_plateau", "greedy")
SCHEDULES = [s.value for s in trainer.SchedulerType]


class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        out = self.linear(x).squeeze(-1)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def _data(n: int = 48) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
    return [{"x": x[i], "labels": y[i]} for i in range(n)]


def _arguments(module: Any, out: Path, schedule: str, **length: Any) -> Any:
    metrics = schedule in ON_METRICS
    return module.TrainingArguments(
        output_dir=str(out),
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        per_device_train_batch_size=4,
        learning_rate=0.05,
        warmup_steps=2,
        lr_scheduler_type=schedule,
        lr_scheduler_kwargs=SCHEDULE_KWARGS.get(schedule, {}),
        logging_steps=1,
        save_steps=10,
        eval_strategy="steps" if metrics else "no",
        eval_steps=3 if metrics else None,
        seed=7,
        **length,
    )


def _train(
    module: Any, out: Path, schedule: str, first: dict[str, Any], second: dict[str, Any]
) -> Any:
    data = _data()
    torch.manual_seed(3)
    module.Trainer(
        model=Regression(), args=_arguments(module, out, schedule, **first),
        train_dataset=data, eval_dataset=data[:8],
    ).train()  # fmt: skip
    torch.manual_seed(3)
    resumed = module.Trainer(
        model=Regression(), args=_arguments(module, out, schedule, **second),
        train_dataset=data, eval_dataset=data[:8],
    )  # fmt: skip
    resumed.train(resume_from_checkpoint=str(out / "checkpoint-10"))
    return resumed


def _curves(run: Any) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    history = run.state.log_history
    lrs = [(h["step"], h["learning_rate"]) for h in history if "learning_rate" in h]
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    return lrs, losses


def _compare(ours: Any, theirs: Any) -> None:
    (our_lrs, our_losses), (their_lrs, their_losses) = _curves(ours), _curves(theirs)
    assert our_lrs == their_lrs  # the same floats, step by step
    assert [step for step, _ in our_losses] == [step for step, _ in their_losses]
    assert [loss for _, loss in our_losses] == pytest.approx(
        [loss for _, loss in their_losses], rel=1e-5
    )
    for name, value in ours.model.state_dict().items():
        torch.testing.assert_close(value, theirs.model.state_dict()[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_max_steps_raised_from_10_to_20(schedule: str, tmp_path: Path) -> None:
    first, second = {"max_steps": 10}, {"max_steps": 20}
    ours = _train(trainer, tmp_path / "ours", schedule, first, second)
    theirs = _train(transformers, tmp_path / "theirs", schedule, first, second)
    assert ours.state.global_step == theirs.state.global_step == 20
    lrs, _ = _curves(ours)
    assert len(lrs) == 20 and lrs[0][0] == 1  # the history carries the first run's steps
    _compare(ours, theirs)


def test_linear_decays_over_the_new_length(tmp_path: Path) -> None:
    ours = _train(trainer, tmp_path, "linear", {"max_steps": 10}, {"max_steps": 20})
    lrs = dict(_curves(ours)[0])
    # A log shows the rate the step was taken with. The first run's schedule ends at 0 on
    # step 10; the resumed one decays over 20 steps: step 15 ran at 0.05 * (20 - 14) / (20 - 2).
    assert lrs[15] == pytest.approx(0.05 * 6 / 18)
    assert all(lrs[step] > 0 for step in range(12, 21))


@pytest.mark.parametrize("schedule", ["linear", "cosine", "polynomial"])
def test_more_epochs(schedule: str, tmp_path: Path) -> None:
    # 48 examples / 4 = 12 steps an epoch: checkpoint-10 lies in the first epoch.
    first, second = {"num_train_epochs": 1}, {"num_train_epochs": 2}
    ours = _train(trainer, tmp_path / "ours", schedule, first, second)
    theirs = _train(transformers, tmp_path / "theirs", schedule, first, second)
    assert ours.state.global_step == theirs.state.global_step == 24
    _compare(ours, theirs)


def test_changed_arguments_are_reported_as_transformers_reports_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _data()
    trainer.Trainer(
        model=Regression(), args=_arguments(trainer, tmp_path, "linear", max_steps=10),
        train_dataset=data,
    ).train()  # fmt: skip
    args = _arguments(trainer, tmp_path, "linear", max_steps=20)
    args.save_steps, args.logging_steps = 5, 2
    with caplog.at_level(logging.WARNING):
        trainer.Trainer(model=Regression(), args=args, train_dataset=data).train(
            resume_from_checkpoint=str(tmp_path / "checkpoint-10")
        )
    text = caplog.text
    assert "do not match the ones in the `trainer_state.json`" in text
    assert "save_steps: 5 (from args) != 10 (from trainer_state.json)" in text
    assert "logging_steps: 2 (from args) != 1 (from trainer_state.json)" in text
