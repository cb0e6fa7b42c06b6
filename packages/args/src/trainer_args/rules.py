"""transformers' `_validate_args` rules, one function each: `(args) -> FieldError | None`.

Rules needing the hardware (bf16 support, TF32) are checked by trainer_dist instead.
The steps rules also coerce an integral float (5.0) to an int, as upstream does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from trainer_args.enums import IntervalStrategy, SaveStrategy, SchedulerType
from trainer_args.errors import FieldError

__all__ = ["RULES"]

Rule = Callable[[Any], "FieldError | None"]
_LARGE_MULTIPLIER = 1_000_000  # compare ratio steps in integers, as upstream


def empty_cache_steps(args: Any) -> FieldError | None:
    """`torch_empty_cache_steps` is None or a positive int."""
    value = args.torch_empty_cache_steps
    if value is None or (isinstance(value, int) and value > 0):
        return None
    message = f"`torch_empty_cache_steps` must be an integer bigger than 0, got {value}."
    return FieldError("torch_empty_cache_steps", value, message)


def logging_steps_nonzero(args: Any) -> FieldError | None:
    """`logging_strategy="steps"` needs a non-zero `logging_steps`."""
    if args.logging_strategy == IntervalStrategy.STEPS and args.logging_steps == 0:
        message = f"logging strategy {args.logging_strategy} requires non-zero --logging_steps"
        return FieldError("logging_steps", args.logging_steps, message)
    return None


def _integral_steps(args: Any, name: str, active: bool) -> FieldError | None:
    value = getattr(args, name)
    if not active or value is None or not value > 1:
        return None
    if not math.isfinite(value) or value != int(value):
        return FieldError(name, value, f"--{name} must be an integer if bigger than 1: {value}")
    setattr(args, name, int(value))
    return None


def logging_steps_integral(args: Any) -> FieldError | None:
    """With `logging_strategy="steps"`, a `logging_steps` above 1 is a whole number."""
    return _integral_steps(args, "logging_steps", args.logging_strategy == IntervalStrategy.STEPS)


def eval_steps_integral(args: Any) -> FieldError | None:
    """With `eval_strategy="steps"`, an `eval_steps` above 1 is a whole number."""
    return _integral_steps(args, "eval_steps", args.eval_strategy == IntervalStrategy.STEPS)


def save_steps_integral(args: Any) -> FieldError | None:
    """With `save_strategy="steps"`, a `save_steps` above 1 is a whole number."""
    return _integral_steps(args, "save_steps", args.save_strategy == SaveStrategy.STEPS)


def _steps_multiple(save: float, evaluation: float) -> str | None:
    if not save % evaluation:
        return None
    if save >= 1 and evaluation >= 1:
        return (
            "--load_best_model_at_end requires the saving steps to be a round multiple of the evaluation "
            f"steps, but found {save}, which is not a round multiple of {evaluation}."
        )
    if not (save < 1 and evaluation < 1):
        return (
            "--load_best_model_at_end requires the saving steps to be a multiple of the evaluation steps, which "
            f"cannot get guaranteed when mixing ratio and absolute steps for save_steps {save} and eval_steps {evaluation}."
        )
    if (save * _LARGE_MULTIPLIER) % (evaluation * _LARGE_MULTIPLIER):
        return (
            "--load_best_model_at_end requires the saving steps to be a multiple of the evaluation "
            f"steps, but found {save}, which is not a multiple of {evaluation}."
        )
    return None


def best_model_strategies(args: Any) -> FieldError | None:
    """`load_best_model_at_end` needs checkpoints where evaluations happen.

    Save and eval strategies must match (unless `save_strategy="best"`); with `"steps"`,
    `save_steps` must be a multiple of `eval_steps`.
    """
    if not args.load_best_model_at_end or args.save_strategy == SaveStrategy.BEST:
        return None
    if args.eval_strategy.value != args.save_strategy.value:
        message = (
            '--load_best_model_at_end requires the save and eval strategy to match, except when --save_strategy="best", '
            f"but found\n- Evaluation strategy: {args.eval_strategy}\n- Save strategy: {args.save_strategy}"
        )
        return FieldError("load_best_model_at_end", True, message)
    if args.eval_strategy != IntervalStrategy.STEPS or not args.eval_steps:
        return None
    problem = _steps_multiple(args.save_steps, args.eval_steps)
    return FieldError("save_steps", args.save_steps, problem) if problem else None


def fp16_and_bf16(args: Any) -> FieldError | None:
    """`fp16` and `bf16` are not both set."""
    if args.fp16 and args.bf16:
        return FieldError("bf16", True, "At most one of fp16 and bf16 can be True, but not both")
    return None


def full_eval_precision(args: Any) -> FieldError | None:
    """`fp16_full_eval` and `bf16_full_eval` are not both set."""
    if args.fp16_full_eval and args.bf16_full_eval:
        return FieldError(
            "bf16_full_eval",
            True,
            "At most one of fp16 and bf16 can be True for full eval, but not both",
        )
    return None


def scheduler_needs_eval(args: Any) -> FieldError | None:
    """Metric-driven schedules (`reduce_lr_on_plateau`, `greedy`) need an `eval_strategy`."""
    needs_eval = {SchedulerType.REDUCE_ON_PLATEAU, SchedulerType.GREEDY}
    if args.lr_scheduler_type in needs_eval and args.eval_strategy == IntervalStrategy.NO:
        message = f"lr_scheduler_type {args.lr_scheduler_type.value} requires an eval strategy"
        return FieldError("lr_scheduler_type", args.lr_scheduler_type.value, message)
    return None


def warmup_non_negative(args: Any) -> FieldError | None:
    """`warmup_steps` is not negative."""
    if args.warmup_steps < 0:
        message = f"Got warmup_steps = {args.warmup_steps}, Expected value warmup_steps >= 0"
        return FieldError("warmup_steps", args.warmup_steps, message)
    return None


def prefetch_needs_workers(args: Any) -> FieldError | None:
    """`dataloader_prefetch_factor` is only set together with `dataloader_num_workers` > 0."""
    if args.dataloader_num_workers == 0 and args.dataloader_prefetch_factor is not None:
        message = (
            "--dataloader_prefetch_factor can only be set when data is loaded in a different process, i.e."
            " when --dataloader_num_workers > 0."
        )
        return FieldError("dataloader_prefetch_factor", args.dataloader_prefetch_factor, message)
    return None


RULES: tuple[Rule, ...] = (
    empty_cache_steps,
    logging_steps_nonzero,
    logging_steps_integral,
    eval_steps_integral,
    save_steps_integral,
    best_model_strategies,
    fp16_and_bf16,
    full_eval_precision,
    scheduler_needs_eval,
    warmup_non_negative,
    prefetch_needs_workers,
)
