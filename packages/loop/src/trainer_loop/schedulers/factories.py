"""Learning-rate schedulers, named and built as in `transformers.optimization`.

Every `LambdaLR` here uses a multiplier from `lambdas`, whose settings are
plain attributes: `scheduler_state_to_json` can save any of them (and
ReduceLROnPlateau, GreedyLR) without pickle. The lr sequences match transformers
bit for bit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from trainer_loop.schedulers.greedy import GreedyLR, StreamingAverage
from trainer_loop.schedulers.lambdas import (
    WSD_SHAPES,
    ConstantLambda,
    ConstantWithWarmupLambda,
    CosineWarmupWithMinLrLambda,
    CosineWithHardRestartsLambda,
    CosineWithWarmupLambda,
    InverseSqrtLambda,
    LinearWithWarmupLambda,
    PolynomialDecayLambda,
    WarmupStableDecayLambda,
)
from trainer_loop.schedulers.layerwise import LayerWiseDummyOptimizer, get_layerwise_scheduler
from trainer_loop.schedulers.state_json import (
    load_scheduler_state_from_json,
    scheduler_state_to_json,
)

__all__ = [
    "SCHEDULER_NAMES",
    "TYPE_TO_SCHEDULER_FUNCTION",
    "AnyScheduler",
    "GreedyLR",
    "StreamingAverage",
    "create_scheduler",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
    "load_scheduler_state_from_json",
    "scheduler_state_to_json",
]

AnyScheduler = LRScheduler | ReduceLROnPlateau | GreedyLR


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> LambdaLR:
    """Keep the optimizer's learning rate."""
    return LambdaLR(optimizer, ConstantLambda(), last_epoch=last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau with `kwargs`; step it with the eval metric."""
    return ReduceLROnPlateau(optimizer, **kwargs)


def get_constant_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup from 0 over `num_warmup_steps`, then the optimizer's lr."""
    return LambdaLR(optimizer, ConstantWithWarmupLambda(num_warmup_steps), last_epoch=last_epoch)


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup from 0, then linear decay to 0 at `num_training_steps`."""
    lr_lambda = LinearWithWarmupLambda(num_warmup_steps, num_training_steps)
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    """Linear warmup from 0, then cosine decay (half a wave by default) to 0."""
    lr_lambda = CosineWithWarmupLambda(num_warmup_steps, num_training_steps, num_cycles)
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> LambdaLR:
    """Linear warmup from 0, then `num_cycles` cosine decays to 0 with hard restarts."""
    lr_lambda = CosineWithHardRestartsLambda(num_warmup_steps, num_training_steps, num_cycles)
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_polynomial_decay_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> LambdaLR:
    """Linear warmup from 0, then polynomial decay from the optimizer's lr to `lr_end`."""
    lr_init = optimizer.defaults["lr"]
    if not (lr_init > lr_end):
        raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
    lr_lambda = PolynomialDecayLambda(num_warmup_steps, num_training_steps, lr_end, power, lr_init)
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_inverse_sqrt_schedule(
    optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> LambdaLR:
    """Linear warmup from 0, then inverse square-root decay (`timescale` defaults to the warmup, or 10_000)."""
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    return LambdaLR(
        optimizer, InverseSqrtLambda(num_warmup_steps, timescale), last_epoch=last_epoch
    )


def _min_lr_rate(optimizer: Optimizer, min_lr: float | None, min_lr_rate: float | None) -> float:
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        return float(min_lr / optimizer.defaults["lr"])
    if min_lr_rate is None:
        raise ValueError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return min_lr_rate


def get_cosine_with_min_lr_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> LambdaLR:
    """Like the cosine schedule but ending at `min_lr` (or `min_lr_rate` times the lr); one is required."""
    rate = _min_lr_rate(optimizer, min_lr, min_lr_rate)
    lr_lambda = CosineWithWarmupLambda(num_warmup_steps, num_training_steps, num_cycles, rate)
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
    warmup_lr_rate: float | None = None,
) -> LambdaLR:
    """`cosine_warmup_with_min_lr`: warmup that starts at `warmup_lr_rate` (or 1/warmup), cosine to min_lr."""
    rate = _min_lr_rate(optimizer, min_lr, min_lr_rate)
    lr_lambda = CosineWarmupWithMinLrLambda(
        num_warmup_steps, num_training_steps, num_cycles, rate, warmup_lr_rate
    )
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_wsd_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_decay_steps: int,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> LambdaLR:
    """Warmup-stable-decay; the stable phase defaults to what the total leaves after warmup and decay."""
    if num_training_steps is None and num_stable_steps is None:
        raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
    if num_training_steps is not None and num_stable_steps is not None:
        warnings.warn(
            "Both num_training_steps and num_stable_steps are specified. num_stable_steps will be used.",
            stacklevel=2,
        )
    if warmup_type not in WSD_SHAPES:
        raise ValueError(
            f"Unknown warmup type: {warmup_type}, expected 'linear', 'cosine' or '1-sqrt'"
        )
    if decay_type not in WSD_SHAPES:
        raise ValueError(
            f"Unknown decay type: {decay_type}, expected 'linear', 'cosine' or '1-sqrt'"
        )
    if num_stable_steps is None:
        assert num_training_steps is not None
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    lr_lambda = WarmupStableDecayLambda(
        num_warmup_steps,
        num_stable_steps,
        num_decay_steps,
        warmup_type,
        decay_type,
        min_lr_ratio,
        num_cycles,
    )
    return LambdaLR(optimizer, lr_lambda, last_epoch)


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """GreedyLR with `kwargs`; step it with the eval metric."""
    return GreedyLR(optimizer, **kwargs)


TYPE_TO_SCHEDULER_FUNCTION: dict[str, Callable[..., AnyScheduler]] = {
    "linear": get_linear_schedule_with_warmup,
    "cosine": get_cosine_schedule_with_warmup,
    "cosine_with_restarts": get_cosine_with_hard_restarts_schedule_with_warmup,
    "polynomial": get_polynomial_decay_schedule_with_warmup,
    "constant": get_constant_schedule,
    "constant_with_warmup": get_constant_schedule_with_warmup,
    "inverse_sqrt": get_inverse_sqrt_schedule,
    "reduce_lr_on_plateau": get_reduce_on_plateau_schedule,
    "cosine_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup,
    "cosine_warmup_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    "warmup_stable_decay": get_wsd_schedule,
    "greedy": get_greedy_schedule,
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(TYPE_TO_SCHEDULER_FUNCTION)

# Schedules that take neither warmup nor total steps.
_STEP_FREE = ("reduce_lr_on_plateau", "greedy")


def _scheduler_name(name: str | Enum) -> str:
    """The plain value of a SchedulerType member or string; SchedulerType's ValidationError otherwise."""
    value = name.value if isinstance(name, Enum) else name
    if value not in TYPE_TO_SCHEDULER_FUNCTION:
        raise ValueError(
            f"{value} is not a valid SchedulerType, please select one of {list(SCHEDULER_NAMES)}"
        )
    return str(value)


def get_scheduler(
    name: str | Enum,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: Mapping[str, Any] | None = None,
) -> AnyScheduler:
    """Build the schedule `name` (a SchedulerType or its value), as `transformers.get_scheduler` does.

    `constant` ignores warmup and kwargs; `reduce_lr_on_plateau` and `greedy` take only
    kwargs; `constant_with_warmup` ignores kwargs; the rest need `num_warmup_steps`, and
    all but `inverse_sqrt`/`warmup_stable_decay` need `num_training_steps` too.
    """
    value = _scheduler_name(name)
    schedule_func = TYPE_TO_SCHEDULER_FUNCTION[value]
    if isinstance(optimizer, LayerWiseDummyOptimizer):
        # Layer-wise optimizers step inside backward hooks: give each its own schedule.
        return get_layerwise_scheduler(
            optimizer, lambda inner: get_scheduler(value, inner, num_warmup_steps, num_training_steps,
                                                   scheduler_specific_kwargs)
        )  # fmt: skip
    if value == "constant":
        return schedule_func(optimizer)
    kwargs = dict(scheduler_specific_kwargs or {})
    if value in _STEP_FREE:
        return schedule_func(optimizer, **kwargs)
    if num_warmup_steps is None:
        raise ValueError(f"{value} requires `num_warmup_steps`, please provide that argument.")
    if value == "constant_with_warmup":
        return schedule_func(optimizer, num_warmup_steps=num_warmup_steps)
    if value == "inverse_sqrt":
        return schedule_func(optimizer, num_warmup_steps=num_warmup_steps, **kwargs)
    if value == "warmup_stable_decay":
        # Needs num_training_steps or num_stable_steps; get_wsd_schedule says which is missing.
        return schedule_func(
            optimizer,
            num_warmup_steps=num_warmup_steps,
            num_training_steps=num_training_steps,
            **kwargs,
        )
    if num_training_steps is None:
        raise ValueError(f"{value} requires `num_training_steps`, please provide that argument.")
    return schedule_func(
        optimizer,
        num_warmup_steps=num_warmup_steps,
        num_training_steps=num_training_steps,
        **kwargs,
    )


def create_scheduler(args: Any, optimizer: Optimizer, num_training_steps: int) -> AnyScheduler:
    """The Trainer's schedule: `args.lr_scheduler_type` with `args.get_warmup_steps(n)` and `lr_scheduler_kwargs`."""
    return get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.get_warmup_steps(num_training_steps),
        num_training_steps=num_training_steps,
        scheduler_specific_kwargs=args.lr_scheduler_kwargs,
    )
