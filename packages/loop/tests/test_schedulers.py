"""Every schedule gives the same learning rates as transformers.get_scheduler."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import transformers
from transformers import optimization as hf_optimization

import trainer_args
from trainer_loop import schedulers

pytestmark = pytest.mark.reference

LAMBDA_CASES: list[tuple[str, int | None, int | None, dict[str, Any] | None]] = [
    ("linear", 0, 10, None),
    ("linear", 3, 10, None),
    ("linear", 10, 10, None),
    ("linear", 7, 4, None),
    ("cosine", 2, 6, None),
    ("cosine", 0, 10, {"num_cycles": 1.5}),
    ("cosine", 3, 20, {"num_cycles": 0.25}),
    ("cosine_with_restarts", 2, 12, {"num_cycles": 3}),
    ("cosine_with_restarts", 0, 10, None),
    ("polynomial", 2, 10, None),
    ("polynomial", 0, 9, {"lr_end": 1e-3, "power": 2.0}),
    ("polynomial", 3, 8, {"power": 0.5}),
    ("constant", 5, 10, None),
    ("constant", None, None, {"ignored": 1}),
    ("constant_with_warmup", 4, 10, None),
    ("constant_with_warmup", 0, 10, {"ignored": 1}),
    ("inverse_sqrt", 0, 20, None),
    ("inverse_sqrt", 4, 20, None),
    ("inverse_sqrt", 4, None, {"timescale": 7}),
    ("cosine_with_min_lr", 2, 10, {"min_lr": 1e-3}),
    ("cosine_with_min_lr", 0, 10, {"min_lr_rate": 0.1, "num_cycles": 1.0}),
    ("cosine_warmup_with_min_lr", 3, 10, {"min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", 3, 10, {"min_lr": 0.01, "warmup_lr_rate": 0.2}),
    ("cosine_warmup_with_min_lr", 0, 12, {"min_lr_rate": 0.0, "num_cycles": 0.75}),
    ("warmup_stable_decay", 2, 20, {"num_decay_steps": 5}),
    (
        "warmup_stable_decay",
        3,
        None,
        {
            "num_decay_steps": 4,
            "num_stable_steps": 3,
            "warmup_type": "cosine",
            "decay_type": "1-sqrt",
            "min_lr_ratio": 0.1,
        },
    ),
    (
        "warmup_stable_decay",
        4,
        16,
        {"num_decay_steps": 6, "warmup_type": "1-sqrt", "decay_type": "linear", "num_cycles": 1.0},
    ),
]

PLATEAU_CASES: list[tuple[str, dict[str, Any] | None]] = [
    ("reduce_lr_on_plateau", None),
    (
        "reduce_lr_on_plateau",
        {"patience": 1, "factor": 0.5, "mode": "max", "cooldown": 1, "min_lr": 0.01},
    ),
    ("greedy", None),
    ("greedy", {"patience": 2, "factor": 0.5, "min_lr": 1e-3, "max_lr": 0.5}),
    (
        "greedy",
        {
            "mode": "max",
            "threshold_mode": "rel",
            "smooth": True,
            "window_size": 3,
            "patience": 1,
            "cooldown": 1,
            "warmup": 1,
            "factor": 0.5,
            "min_lr": 0.02,
            "reset_start": 2,
        },
    ),
    ("greedy", {"patience": 0, "factor": 0.9, "min_lr": [0.05, 0.01], "max_lr": [0.2, 0.3]}),
]

# Falls, stalls, rises, then noise: exercises improvements, plateaus, cooldowns and resets.
METRICS = [5.0 - 0.5 * i for i in range(8)] + [1.5] * 6 + [1.5 + 0.3 * i for i in range(8)]
METRICS += [2.0, 1.0, 3.0, 0.5, 0.5, 4.0, 0.1, 0.2, 0.05, 0.3] * 3


def _optimizer(lrs: tuple[float, ...] = (0.1, 0.05)) -> torch.optim.Optimizer:
    torch.manual_seed(0)
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _lambda_lrs(build: Any, name: str, warmup: int | None, total: int | None, kwargs: Any) -> list:
    optimizer = _optimizer()
    scheduler = build(name, optimizer, warmup, total, None if kwargs is None else dict(kwargs))
    lrs = []
    for _ in range((total or 12) + 3):
        lrs.append([group["lr"] for group in optimizer.param_groups] + scheduler.get_last_lr())
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(("name", "warmup", "total", "kwargs"), LAMBDA_CASES)
def test_lambda_schedules_match_transformers(name, warmup, total, kwargs) -> None:
    ours = _lambda_lrs(schedulers.get_scheduler, name, warmup, total, kwargs)
    theirs = _lambda_lrs(transformers.get_scheduler, name, warmup, total, kwargs)
    assert ours == theirs


def _metric_lrs(build: Any, name: str, kwargs: Any) -> list:
    optimizer = _optimizer()
    scheduler = build(name, optimizer, 3, 20, None if kwargs is None else dict(kwargs))
    lrs = []
    for metric in METRICS:
        optimizer.step()
        scheduler.step(metric)
        lrs.append(
            [group["lr"] for group in optimizer.param_groups] + list(scheduler.get_last_lr())
        )
    return lrs


@pytest.mark.parametrize(("name", "kwargs"), PLATEAU_CASES)
def test_metric_schedules_match_transformers(name, kwargs) -> None:
    ours = _metric_lrs(schedulers.get_scheduler, name, kwargs)
    theirs = _metric_lrs(transformers.get_scheduler, name, kwargs)
    assert ours == theirs
    assert len({tuple(row) for row in ours}) > 1 or kwargs is None


def test_greedy_state_dict_has_transformers_keys() -> None:
    kwargs = {"smooth": True, "window_size": 4, "patience": 1}
    ours = schedulers.get_scheduler("greedy", _optimizer(), scheduler_specific_kwargs=kwargs)
    theirs = transformers.get_scheduler("greedy", _optimizer(), scheduler_specific_kwargs=kwargs)
    for metric in METRICS[:10]:
        ours.step(metric)
        theirs.step(metric)
    assert ours.state_dict() == theirs.state_dict()


def test_enum_member_is_accepted() -> None:
    member = transformers.SchedulerType.COSINE
    optimizer = _optimizer()
    scheduler = schedulers.get_scheduler(member, optimizer, 1, 5)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR)


MISSING_ARGUMENT_CASES = [
    (name, None, 10, "num_warmup_steps")
    for name in (
        "linear",
        "cosine",
        "cosine_with_restarts",
        "polynomial",
        "constant_with_warmup",
        "inverse_sqrt",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "warmup_stable_decay",
    )
] + [
    (name, 2, None, "num_training_steps")
    for name in ("linear", "cosine", "cosine_with_restarts", "polynomial")
]


@pytest.mark.parametrize(("name", "warmup", "total", "missing"), MISSING_ARGUMENT_CASES)
def test_missing_step_counts_raise_like_transformers(name, warmup, total, missing) -> None:
    kwargs = {"min_lr_rate": 0.1} if "min_lr" in name else None
    with pytest.raises(ValueError, match=missing):
        transformers.get_scheduler(name, _optimizer(), warmup, total, kwargs)
    with pytest.raises(ValueError, match=missing):
        schedulers.get_scheduler(name, _optimizer(), warmup, total, kwargs)


BAD_KWARGS_CASES: list[tuple[str, int | None, int | None, dict[str, Any] | None, type, str]] = [
    ("cosine_with_min_lr", 0, 10, None, ValueError, "One of min_lr or min_lr_rate"),
    ("cosine_with_min_lr", 0, 10, {"min_lr": 0.1, "min_lr_rate": 0.1}, ValueError, "Only one"),
    ("cosine_warmup_with_min_lr", 0, 10, {}, ValueError, "One of min_lr or min_lr_rate"),
    ("cosine_with_min_lr", 0, None, {"min_lr": 0.1}, ValueError, "num_training_steps"),
    ("warmup_stable_decay", 0, 10, None, TypeError, "num_decay_steps"),
    ("warmup_stable_decay", 0, None, {"num_decay_steps": 2}, ValueError, "num_stable_steps"),
    (
        "warmup_stable_decay",
        0,
        10,
        {"num_decay_steps": 2, "decay_type": "exp"},
        ValueError,
        "decay type",
    ),
    (
        "warmup_stable_decay",
        0,
        10,
        {"num_decay_steps": 2, "warmup_type": "x"},
        ValueError,
        "warmup type",
    ),
    ("polynomial", 0, 10, {"lr_end": 0.5}, ValueError, "lr_end"),
    ("cosine", 0, 10, {"min_lr": 0.5}, TypeError, "min_lr"),
    ("greedy", None, None, {"factor": 1.0}, ValueError, "Factor"),
    ("greedy", None, None, {"mode": "avg"}, ValueError, "mode"),
    ("greedy", None, None, {"min_lr": [0.1]}, ValueError, "min_lr"),
    ("reduce_lr_on_plateau", None, None, {"mode": "avg"}, ValueError, "mode"),
    ("bogus", 0, 10, None, ValueError, "is not a valid SchedulerType"),
]


@pytest.mark.parametrize(("name", "warmup", "total", "kwargs", "error", "match"), BAD_KWARGS_CASES)
def test_bad_kwargs_raise_like_transformers(name, warmup, total, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        transformers.get_scheduler(name, _optimizer(), warmup, total, kwargs)
    with pytest.raises(error, match=match):
        schedulers.get_scheduler(name, _optimizer(), warmup, total, kwargs)


def test_named_functions_match_transformers() -> None:
    pairs = [
        ("get_linear_schedule_with_warmup", (2, 10), {}),
        ("get_cosine_schedule_with_warmup", (2, 10), {"num_cycles": 0.7}),
        ("get_cosine_with_hard_restarts_schedule_with_warmup", (1, 10), {"num_cycles": 2}),
        ("get_polynomial_decay_schedule_with_warmup", (1, 10), {"lr_end": 1e-4, "power": 3.0}),
        ("get_constant_schedule_with_warmup", (3,), {}),
        ("get_inverse_sqrt_schedule", (3,), {}),
        ("get_wsd_schedule", (2, 3), {"num_stable_steps": 4}),
        ("get_cosine_with_min_lr_schedule_with_warmup", (2, 10), {"min_lr": 0.001}),
        ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", (2, 10), {"min_lr_rate": 0.3}),
    ]
    for func_name, args, kwargs in pairs:
        runs = []
        for module in (schedulers, hf_optimization):
            optimizer = _optimizer()
            scheduler = getattr(module, func_name)(optimizer, *args, **kwargs)
            lrs = []
            for _ in range(12):
                optimizer.step()
                scheduler.step()
                lrs.append(scheduler.get_last_lr())
            runs.append(lrs)
        assert runs[0] == runs[1], func_name


@pytest.mark.parametrize(
    ("scheduler_type", "warmup", "kwargs"),
    [
        ("linear", 0.3, None),
        ("cosine", 2, {"num_cycles": 1}),
        ("cosine_with_min_lr", 0.2, {"min_lr_rate": 0.1}),
        ("warmup_stable_decay", 1, {"num_decay_steps": 4}),
        ("polynomial", 0, '{"power": 2.0}'),
    ],
)
def test_create_scheduler_from_training_arguments(tmp_path, scheduler_type, warmup, kwargs) -> None:
    values = dict(
        output_dir=str(tmp_path), learning_rate=0.1, lr_scheduler_type=scheduler_type,
        warmup_steps=warmup, lr_scheduler_kwargs=kwargs, report_to="none", use_cpu=True,
    )  # fmt: skip
    args = trainer_args.TrainingArguments(**values)
    hf_args = transformers.TrainingArguments(**values)
    runs = []
    for build, run_args in ((schedulers.create_scheduler, args), (None, hf_args)):
        optimizer = _optimizer((0.1,))
        if build is None:
            scheduler = transformers.get_scheduler(
                run_args.lr_scheduler_type, optimizer, run_args.get_warmup_steps(10), 10,
                run_args.lr_scheduler_kwargs,
            )  # fmt: skip
        else:
            scheduler = build(run_args, optimizer, 10)
        lrs = []
        for _ in range(10):
            lrs.append(scheduler.get_last_lr())
            optimizer.step()
            scheduler.step()
        runs.append(lrs)
    assert runs[0] == runs[1]
    if scheduler_type == "linear":  # the checklist's numbers: 3 warmup steps of 10
        assert [round(lr[0], 4) for lr in runs[0][:5]] == [0.0, 0.0333, 0.0667, 0.1, 0.0857]
