"""Enums with the same names and values as transformers 5.x.

All but `ParallelMode` are `str` enums, so `IntervalStrategy.STEPS == "steps"`.
An invalid value raises `ValidationError` (a ValueError) with transformers' wording
plus the closest valid value.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from trainer_args.errors import FieldError, ValidationError, closest

__all__ = [
    "LOG_LEVELS",
    "DebugOption",
    "ExplicitEnum",
    "FSDPOption",
    "HPSearchBackend",
    "HubStrategy",
    "IntervalStrategy",
    "OptimizerNames",
    "ParallelMode",
    "SaveStrategy",
    "SchedulerType",
]


class ExplicitEnum(str, Enum):
    """A str enum whose error for a bad value lists the valid ones."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        allowed = list(cls._value2member_map_)
        message = f"{value} is not a valid {cls.__name__}, please select one of {allowed}"
        suggestion = closest(value, allowed) if isinstance(value, str) else None
        raise ValidationError(FieldError(cls.__name__, value, message, allowed, suggestion))


class IntervalStrategy(ExplicitEnum):
    """When to log or evaluate: `logging_strategy` and `eval_strategy` take these values."""

    NO = "no"
    """Never (for `eval_strategy`, the default: no evaluation during training)."""
    STEPS = "steps"
    """Every `logging_steps` / `eval_steps` optimizer steps."""
    EPOCH = "epoch"
    """At the end of every epoch."""


class SaveStrategy(ExplicitEnum):
    """When to save a checkpoint during training: the values of `save_strategy`."""

    NO = "no"
    """Never save during training."""
    STEPS = "steps"
    """Every `save_steps` optimizer steps (the default)."""
    EPOCH = "epoch"
    """At the end of every epoch."""
    BEST = "best"
    """Whenever an evaluation reaches a new best `metric_for_best_model`."""


class HubStrategy(ExplicitEnum):
    """What to push to the Hugging Face Hub, and when: the values of `hub_strategy`.

    Accepted and validated as in transformers; this project's Trainer does not push to the
    Hub itself (`push_to_hub=True` raises NotImplementedError), so the value only matters to
    code that reads it.
    """

    END = "end"
    """Push the final model when `save_model()` is called."""
    EVERY_SAVE = "every_save"
    """Push the model each time it is saved, and once more at the end (the default)."""
    CHECKPOINT = "checkpoint"
    """Like `every_save`, and also push the latest checkpoint to a `last-checkpoint` folder."""
    ALL_CHECKPOINTS = "all_checkpoints"
    """Like `every_save`, and also push every checkpoint folder."""


class SchedulerType(ExplicitEnum):
    """Learning-rate schedule names: the values of `lr_scheduler_type`.

    Apart from `constant`, `reduce_lr_on_plateau` and `greedy`, each schedule starts with a
    warmup over `warmup_steps`. A schedule's own options (`num_cycles`, `min_lr`, `power`,
    ...) go in `lr_scheduler_kwargs`. `reduce_lr_on_plateau` and `greedy` follow an
    evaluation metric, so they need an `eval_strategy` other than `"no"`.
    """

    LINEAR = "linear"
    """Linear warmup from 0, then linear decay to 0 at the last step (the default)."""
    COSINE = "cosine"
    """Linear warmup from 0, then cosine decay to 0 (`num_cycles`, default half a wave)."""
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    """Linear warmup from 0, then `num_cycles` cosine decays to 0, each restarting at the peak."""
    POLYNOMIAL = "polynomial"
    """Linear warmup from 0, then polynomial decay (`power`) down to `lr_end`."""
    CONSTANT = "constant"
    """The optimizer's learning rate throughout, no warmup."""
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    """Linear warmup from 0, then the optimizer's learning rate."""
    INVERSE_SQRT = "inverse_sqrt"
    """Linear warmup from 0, then decay with the inverse square root of the step (`timescale`)."""
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    """torch's ReduceLROnPlateau, stepped with the evaluation metric."""
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    """Like `cosine`, ending at `min_lr` (or `min_lr_rate` times the learning rate) instead of 0."""
    COSINE_WARMUP_WITH_MIN_LR = "cosine_warmup_with_min_lr"
    """Like `cosine_with_min_lr`, with a warmup that starts at `warmup_lr_rate`."""
    WARMUP_STABLE_DECAY = "warmup_stable_decay"
    """Warmup, a constant phase, then a decay over `num_decay_steps` (shapes configurable)."""
    GREEDY = "greedy"
    """GreedyLR: raises or lowers the learning rate following the evaluation metric."""


class OptimizerNames(ExplicitEnum):
    """Optimizer names: the values of `optim`, the same set as transformers 5.x.

    `adamw_torch`, `adamw_torch_fused` (the default), `adafactor`, `sgd`, `adagrad` and
    `rmsprop` need nothing beyond torch. The others need an optional package
    (bitsandbytes for the `*_8bit`, `paged_*`, `lion_*` and `rmsprop_bnb*` names,
    galore-torch, apollo-torch, torchao, schedulefree, lomo-optim, ...); asking for one
    whose package is missing fails with a message naming what to install. Optimizer
    options that have no field of their own go in `optim_args`.
    """

    ADAMW_TORCH = "adamw_torch"
    ADAMW_TORCH_FUSED = "adamw_torch_fused"
    ADAMW_TORCH_XLA = "adamw_torch_xla"
    ADAMW_TORCH_NPU_FUSED = "adamw_torch_npu_fused"
    ADAFACTOR = "adafactor"
    ADAMW_ANYPRECISION = "adamw_anyprecision"
    ADAMW_TORCH_4BIT = "adamw_torch_4bit"
    ADAMW_TORCH_8BIT = "adamw_torch_8bit"
    ADEMAMIX = "ademamix"
    SGD = "sgd"
    ADAGRAD = "adagrad"
    ADAMW_BNB = "adamw_bnb_8bit"
    ADAMW_8BIT = "adamw_8bit"  # same optimizer as adamw_bnb_8bit
    ADEMAMIX_8BIT = "ademamix_8bit"
    LION_8BIT = "lion_8bit"
    LION = "lion_32bit"
    PAGED_ADAMW = "paged_adamw_32bit"
    PAGED_ADAMW_8BIT = "paged_adamw_8bit"
    PAGED_ADEMAMIX = "paged_ademamix_32bit"
    PAGED_ADEMAMIX_8BIT = "paged_ademamix_8bit"
    PAGED_LION = "paged_lion_32bit"
    PAGED_LION_8BIT = "paged_lion_8bit"
    RMSPROP = "rmsprop"
    RMSPROP_BNB = "rmsprop_bnb"
    RMSPROP_8BIT = "rmsprop_bnb_8bit"
    RMSPROP_32BIT = "rmsprop_bnb_32bit"
    GALORE_ADAMW = "galore_adamw"
    GALORE_ADAMW_8BIT = "galore_adamw_8bit"
    GALORE_ADAFACTOR = "galore_adafactor"
    GALORE_ADAMW_LAYERWISE = "galore_adamw_layerwise"
    GALORE_ADAMW_8BIT_LAYERWISE = "galore_adamw_8bit_layerwise"
    GALORE_ADAFACTOR_LAYERWISE = "galore_adafactor_layerwise"
    LOMO = "lomo"
    ADALOMO = "adalomo"
    GROKADAMW = "grokadamw"
    SCHEDULE_FREE_RADAM = "schedule_free_radam"
    SCHEDULE_FREE_ADAMW = "schedule_free_adamw"
    SCHEDULE_FREE_SGD = "schedule_free_sgd"
    APOLLO_ADAMW = "apollo_adamw"
    APOLLO_ADAMW_LAYERWISE = "apollo_adamw_layerwise"
    STABLE_ADAMW = "stable_adamw"


class FSDPOption(ExplicitEnum):
    """The words of the legacy `fsdp` string, such as `fsdp="full_shard auto_wrap"`.

    Each word is translated into an `fsdp_config` entry (this form is deprecated upstream:
    prefer `fsdp=True` plus `fsdp_config`). With FSDP2 (`fsdp_config["version"]` 2, the
    default) the only sharding strategies accepted are `full_shard` and `shard_grad_op`.
    """

    FULL_SHARD = "full_shard"
    """Shard parameters, gradients and optimizer state (FSDP2: `reshard_after_forward=True`)."""
    SHARD_GRAD_OP = "shard_grad_op"
    """Shard gradients and optimizer state only (FSDP2: `reshard_after_forward=False`)."""
    NO_SHARD = "no_shard"
    """No sharding (FSDP1 only)."""
    HYBRID_SHARD = "hybrid_shard"
    """Full sharding within a node, replication across nodes (FSDP1 only)."""
    HYBRID_SHARD_ZERO2 = "hybrid_shard_zero2"
    """`shard_grad_op` within a node, replication across nodes (FSDP1 only)."""
    OFFLOAD = "offload"
    """Offload to the CPU (sets `cpu_offload=True` in `fsdp_config`)."""
    AUTO_WRAP = "auto_wrap"
    """Wrap layers automatically: changes nothing, the default `auto_wrap_policy` already does."""


class HPSearchBackend(ExplicitEnum):
    """Hyperparameter-search backends, as `Trainer.hyperparameter_search(backend=...)` names them.

    The names are those of transformers; this project's Trainer runs searches with `optuna`
    only and refuses the others with an error.
    """

    OPTUNA = "optuna"
    RAY = "ray"
    WANDB = "wandb"


class DebugOption(ExplicitEnum):
    """Debug features, the values of `debug` (a space-separated string or a list).

    Accepted for compatibility with transformers: this project's Trainer warns that
    `underflow_overflow` is not supported and trains without it, and runs no TPU code.
    """

    UNDERFLOW_OVERFLOW = "underflow_overflow"
    """transformers: report where `inf`/`nan` first appear in weights and activations."""
    TPU_METRICS_DEBUG = "tpu_metrics_debug"
    """transformers: print TPU (XLA) debug metrics."""


class ParallelMode(Enum):
    """How the processes share the work (a plain Enum, as in transformers)."""

    NOT_PARALLEL = "not_parallel"
    NOT_DISTRIBUTED = "not_distributed"
    DISTRIBUTED = "distributed"
    SAGEMAKER_MODEL_PARALLEL = "sagemaker_model_parallel"
    SAGEMAKER_DATA_PARALLEL = "sagemaker_data_parallel"
    TPU = "tpu"


LOG_LEVELS: dict[str, int] = {
    "detail": 10,
    "debug": 10,
    "info": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
    "passive": -1,
}
"""The names `log_level` and `log_level_replica` accept, mapped to `logging` levels.

`"passive"` (-1) leaves the level that is already set alone.
"""
