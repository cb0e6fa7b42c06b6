"""`Trainer`: train, evaluate and predict as `transformers.Trainer` 5.x does, hook for hook.

The class is put together from one module per responsibility, each holding the method
bodies themselves: `setup` (construction), `dataloaders`, `optimization`, `run_setup`
(`train()` up to the first step), `train_loop` (epochs and the optimizer step), `step`
(one micro-batch), `log_eval_save`, `evaluation`, `checkpointing`, `search`
(hyperparameter search) and `hub`. The per-run state is `run_state.TrainingRun`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from trainer_loop.trainer.checkpointing import CheckpointMixin
from trainer_loop.trainer.dataloaders import DataMixin
from trainer_loop.trainer.evaluation import EvaluationMixin
from trainer_loop.trainer.hub import HubMixin
from trainer_loop.trainer.log_eval_save import LogEvalSaveMixin
from trainer_loop.trainer.optimization import OptimizationMixin
from trainer_loop.trainer.run_setup import RunSetupMixin
from trainer_loop.trainer.run_state import TrainingRun
from trainer_loop.trainer.search import SearchMixin
from trainer_loop.trainer.setup import SetupMixin, check_optimizers_tuple
from trainer_loop.trainer.step import StepMixin
from trainer_loop.trainer.train_loop import TrainLoopMixin

__all__ = ["DEFAULT_OUTPUT_DIR", "Trainer"]

DEFAULT_OUTPUT_DIR = "tmp_trainer"


class Trainer(
    SetupMixin,
    DataMixin,
    OptimizationMixin,
    RunSetupMixin,
    TrainLoopMixin,
    StepMixin,
    LogEvalSaveMixin,
    EvaluationMixin,
    CheckpointMixin,
    SearchMixin,
    HubMixin,
):
    """Train, evaluate and predict with a PyTorch model, as `transformers.Trainer` does.

    Every method transformers users override exists with the same name and signature and is
    called through `self`, in this order:

    - construction: `create_accelerator_and_postprocess`, `call_model_init` (with
      `model_init`), `_move_model_to_device`, the callbacks' `on_init_end`.
    - `train(resume_from_checkpoint, trial, ignore_keys_for_eval)`: `_hp_search_setup`,
      `call_model_init`, `_load_from_checkpoint`, then `_inner_training_loop`, which calls
      `get_train_dataloader` (-> `_get_train_sampler`), `set_initial_training_values`
      (-> `get_total_train_batch_size`), `_init_training_state` (-> `_load_callback_state`),
      `_prepare_for_training` (-> `create_optimizer` -> `get_decay_parameter_names`,
      `get_optimizer_cls_and_kwargs`; `_wrap_model`; `create_scheduler`;
      `_load_optimizer_and_scheduler`), then per epoch `_run_epoch`:
      `get_resumed_dataloader` and `_load_rng_state` when resuming; per optimizer step
      `get_batch_samples` (-> `_get_num_items_in_batch`); per micro-batch `training_step`
      (-> `_prepare_inputs` -> `_prepare_input`, `compute_loss_context_manager`,
      `compute_loss`; the first two pairs are called only where a subclass or the
      instance overrides one of them, their default work being done inline),
      `floating_point_ops`, `_track_num_input_tokens`; then `_clip_grad_norm`,
      `_get_grad_norm`, the optimizer and scheduler steps, `_get_learning_rate`, and
      `_maybe_log_save_evaluate` (-> `log`, `store_flos`, `_evaluate` -> `evaluate`,
      `_determine_best_metric`, `_save_checkpoint`); finally `_finalize_training`
      (-> `_load_best_model`).
    - `evaluate` / `predict`: `get_eval_dataloader` / `get_test_dataloader`,
      `evaluation_loop` (-> `prediction_step` per batch), `log` (evaluate only).
    - `save_model(output_dir)` -> `_save(output_dir, state_dict)`.

    Any of them may be overridden; `compute_loss` and `training_step` are the usual ones.
    `loss_is_scaled_for_ga` tells `training_step` whether an overridden `compute_loss`
    already divides by the gradient-accumulation steps. The per-run state lives in
    `self._run` (a `TrainingRun`); transformers' names for it (`_tr_loss`,
    `_total_loss_scalar`, `_globalstep_last_logged`, ...) still read and write it, for
    overridden `_maybe_log_save_evaluate` methods.
    """

    # Subclasses set this to say whether `compute_loss` already normalises for gradient accumulation.
    loss_is_scaled_for_ga: bool | None = None

    def __init__(
        self,
        model: nn.Module | None = None,
        args: Any = None,
        data_collator: Callable[[list[Any]], Any] | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Callable[..., nn.Module] | None = None,
        compute_loss_func: Callable[..., torch.Tensor] | None = None,
        compute_metrics: Callable[..., dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        optimizer_cls_and_kwargs: tuple[type, dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        if args is None:
            import logging

            from trainer_args import TrainingArguments

            logging.getLogger(__name__).info(
                f"No `TrainingArguments` passed, using `output_dir={DEFAULT_OUTPUT_DIR}`."
            )
            args = TrainingArguments(output_dir=DEFAULT_OUTPUT_DIR)
        self.args = args
        self._seed()

        self.deepspeed = None
        self.model = model
        self.create_accelerator_and_postprocess()

        from trainer_dist.memory import MemoryTracker
        from trainer_loop.verbosity import apply_log_level

        self._memory_tracker = MemoryTracker(args.skip_memory_metrics)
        self._memory_tracker.start(stage="init")
        apply_log_level(args)
        _ = args.device  # set up devices (and the distributed state) now, as transformers does

        model = self._resolve_model(model, model_init)
        check_optimizers_tuple(optimizers)
        self.is_model_parallel = self._detect_model_parallel(model)
        self.place_model_on_device = self._should_place_model_on_device()
        if self.place_model_on_device:
            self._move_model_to_device(model, args.device)
        self.model_wrapped = model
        self.model = model

        self._introspect_model(model)
        self.data_collator = (
            data_collator if data_collator is not None else self._default_collator(processing_class)
        )
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.processing_class = processing_class
        self.neftune_noise_alpha = args.neftune_noise_alpha
        self.compute_loss_func = compute_loss_func
        self.compute_metrics = compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs
        self._validate_args()

        self._init_callbacks(callbacks)
        self.hub_model_id = None
        if args.push_to_hub:
            self.init_hf_repo()
        self._make_output_dir()
        self._init_bookkeeping()
        self.control = self.callback_handler.on_init_end(args, self.state, self.control)

        if getattr(self.model, "config", None) is not None:
            self.model.config.use_cache = args.use_cache
        self._memory_tracker.stop_and_update_metrics(stage="init")

    def _init_bookkeeping(self) -> None:
        """The state, counters and caches a new Trainer starts with."""
        from trainer_loop.state import TrainerControl, TrainerState

        self.control = TrainerControl()
        self.state = TrainerState(
            is_local_process_zero=self.is_local_process_zero(),
            is_world_process_zero=self.is_world_process_zero(),
            stateful_callbacks=self._exportable_callbacks(),
        )
        self.is_in_train = False
        self.current_flos = 0.0
        self.current_gradient_accumulation_steps = self.args.gradient_accumulation_steps
        self._train_batch_size = self.args.train_batch_size
        self._created_lr_scheduler = False
        self._signature_columns = None
        self.neftune_hook_handle = None
        # Hyperparameter search (`search.py`).
        self.hp_name = None
        self.hp_search_backend = None
        self._trial = None
        self._hp_applied_trial = None
        # Caches: the FLOPs parameter count per model, the step plan per optimizer.
        self._flops_cache = None
        self._plan = None
        self._run = None

    # transformers' names for the per-run state, kept for overridden `_maybe_log_save_evaluate`.
    @property
    def _tr_loss(self) -> torch.Tensor:
        return self._current_run().tr_loss

    @_tr_loss.setter
    def _tr_loss(self, value: torch.Tensor) -> None:
        self._current_run().tr_loss = value

    @property
    def _total_loss_scalar(self) -> float:
        return self._current_run().total_loss_scalar

    @_total_loss_scalar.setter
    def _total_loss_scalar(self, value: float) -> None:
        self._current_run().total_loss_scalar = value

    @property
    def _globalstep_last_logged(self) -> int:
        return self._current_run().globalstep_last_logged

    @_globalstep_last_logged.setter
    def _globalstep_last_logged(self, value: int) -> None:
        self._current_run().globalstep_last_logged = value

    @property
    def _initial_global_step(self) -> int:
        return self._current_run().initial_global_step

    @property
    def _initial_num_input_tokens_seen(self) -> int:
        return self._current_run().initial_num_input_tokens_seen

    def _current_run(self) -> TrainingRun:
        if self._run is None:
            raise AttributeError("no training run yet: call train() first")
        return self._run
