"""`TrainerAttributes`: the instance attributes every part of the Trainer reads, with their types.

Each mixin of `Trainer` inherits it, so the attributes have one declared type wherever a
method sets them (type checkers otherwise infer a different one in each mixin).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from trainer_dist.step_plan import StepPlan
    from trainer_loop.state import TrainerControl, TrainerState
    from trainer_loop.trainer.run_state import TrainingRun

__all__ = ["TrainerAttributes"]


class TrainerAttributes:
    """Declarations only: the values are set by `Trainer.__init__` and the methods."""

    args: Any
    # Models are duck-typed (any nn.Module, PEFT, compiled...): `model` is what the user gave
    # (unwrapped), `model_wrapped` what accelerate/DataParallel made of it.
    model: Any
    model_wrapped: Any
    model_init: Callable[..., nn.Module] | None
    accelerator: Any
    gather_function: Callable[[Any], Any]
    is_deepspeed_enabled: bool
    is_fsdp_enabled: bool
    is_model_parallel: bool
    place_model_on_device: bool
    deepspeed: Any
    optimizer: Any
    lr_scheduler: Any
    optimizer_cls_and_kwargs: tuple[Any, dict[str, Any]] | None
    data_collator: Callable[[list[Any]], Any]
    train_dataset: Any
    eval_dataset: Any
    processing_class: Any
    compute_loss_func: Callable[..., torch.Tensor] | None
    compute_metrics: Callable[..., dict[str, Any]] | None
    preprocess_logits_for_metrics: Callable[[Any, Any], Any] | None
    callback_handler: Any
    state: TrainerState
    control: TrainerControl
    hub_model_id: str | None
    neftune_noise_alpha: float | None
    neftune_hook_handle: Any
    # What the loss and prediction code knows about the model (`_introspect_model`).
    model_accepts_loss_kwargs: bool
    label_names: list[str]
    can_return_loss: bool
    label_smoother: Any
    _loss_shifts_labels: bool
    # Run bookkeeping.
    is_in_train: bool
    current_flos: float
    current_gradient_accumulation_steps: int
    model_preparation_time: float
    _train_batch_size: int
    _created_lr_scheduler: bool
    _signature_columns: list[str] | None
    _memory_tracker: Any
    _run: TrainingRun | None
    # Caches: the FLOPs parameter count per model, the step plan per optimizer.
    _flops_cache: tuple[Any, str, int | None] | None
    _plan: StepPlan | None
    # Hyperparameter search.
    hp_search_backend: Any
    hp_space: Callable[[Any], dict[str, Any]]
    hp_name: Callable[[Any], str] | None
    compute_objective: Callable[[dict[str, float]], Any]
    objective: Any
    _trial: Any
    _hp_applied_trial: Any
