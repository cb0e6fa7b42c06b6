"""Learning-rate schedulers, named and built as in `transformers.optimization`.

`factories` builds each `SchedulerType`; `lambdas` holds the `LambdaLR` multipliers (plain
attributes, so the whole state is JSON: `state_json`), `greedy` the GreedyLR scheduler,
`layerwise` the per-parameter schedulers of layer-wise optimizers.
"""

from trainer_loop.schedulers.factories import (
    SCHEDULER_NAMES,
    TYPE_TO_SCHEDULER_FUNCTION,
    AnyScheduler,
    GreedyLR,
    StreamingAverage,
    create_scheduler,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    get_greedy_schedule,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
    get_polynomial_decay_schedule_with_warmup,
    get_reduce_on_plateau_schedule,
    get_scheduler,
    get_wsd_schedule,
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
