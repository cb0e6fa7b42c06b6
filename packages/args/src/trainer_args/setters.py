"""`set_*`: the transformers convenience setters of `TrainingArguments`, as a plain base class.

Each setter assigns a group of fields in one call and returns the arguments, for chaining
(`args.set_training(...).set_evaluate(...)`). The fields themselves are declared once, in the
attrs class body of `TrainingArguments`, which has this class as a base: here they are written
through `fields: Any = self`, so that no second declaration of their types is needed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from trainer_args import validation
from trainer_args.enums import (
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    SaveStrategy,
    SchedulerType,
)

__all__ = ["ConvenienceSetters"]

_S = TypeVar("_S", bound="ConvenienceSetters")


class ConvenienceSetters:
    """transformers' `set_training`, `set_evaluate`, ... for `TrainingArguments` (a mixin)."""

    def set_training(
        self: _S,
        learning_rate: float = 5e-5,
        batch_size: int = 8,
        weight_decay: float = 0,
        num_epochs: float = 3,
        max_steps: int = -1,
        gradient_accumulation_steps: int = 1,
        seed: int = 42,
        activation_checkpointing: bool = False,
        gradient_checkpointing: bool | None = None,
    ) -> _S:
        """Set the main training options in one call, and `do_train=True`; returns `self`.

        Args:
            learning_rate: Sets `learning_rate`.
            batch_size: Sets `per_device_train_batch_size`.
            weight_decay: Sets `weight_decay`.
            num_epochs: Sets `num_train_epochs`.
            max_steps: Sets `max_steps` (a positive value overrides `num_epochs`).
            gradient_accumulation_steps: Sets `gradient_accumulation_steps`.
            seed: Sets `seed`.
            activation_checkpointing: Sets `activation_checkpointing`.
            gradient_checkpointing: Deprecated name of `activation_checkpointing` (it warns);
                wins over it when given.
        """
        fields: Any = self
        fields.do_train = True
        fields.learning_rate = learning_rate
        fields.per_device_train_batch_size = batch_size
        fields.weight_decay = weight_decay
        fields.num_train_epochs = num_epochs
        fields.max_steps = max_steps
        fields.gradient_accumulation_steps = gradient_accumulation_steps
        fields.seed = seed
        if gradient_checkpointing is not None:
            validation.warn_deprecated("gradient_checkpointing", "activation_checkpointing")
            activation_checkpointing = gradient_checkpointing
        fields.activation_checkpointing = fields.gradient_checkpointing = activation_checkpointing
        return self

    def set_evaluate(
        self: _S,
        strategy: str | IntervalStrategy = "no",
        steps: int = 500,
        batch_size: int = 8,
        accumulation_steps: int | None = None,
        delay: float | None = None,
        loss_only: bool = False,
    ) -> _S:
        """Set the evaluation options in one call; returns `self`.

        `do_eval` becomes True unless `strategy` is `"no"`. Unlike transformers,
        `delay=None` sets `eval_delay` to 0, not None (upstream's None breaks `train()`).

        Args:
            strategy: Sets `eval_strategy`.
            steps: Sets `eval_steps`.
            batch_size: Sets `per_device_eval_batch_size`.
            accumulation_steps: Sets `eval_accumulation_steps`.
            delay: Sets `eval_delay` (None means 0).
            loss_only: Sets `prediction_loss_only`.

        Raises:
            ValidationError: `strategy` is not an `IntervalStrategy` value, or is `"steps"`
                with `steps=0`.
        """
        fields: Any = self
        fields.eval_strategy = validation.to_enum("eval_strategy", strategy, IntervalStrategy)
        validation.check_setter_steps(fields.eval_strategy, steps)
        fields.do_eval = fields.eval_strategy != IntervalStrategy.NO
        fields.eval_steps = steps
        fields.per_device_eval_batch_size = batch_size
        fields.eval_accumulation_steps = accumulation_steps
        fields.eval_delay = 0 if delay is None else delay
        fields.prediction_loss_only = loss_only
        return self

    def set_testing(self: _S, batch_size: int = 8, loss_only: bool = False) -> _S:
        """Set the prediction options, and `do_predict=True`; returns `self`.

        Args:
            batch_size: Sets `per_device_eval_batch_size`.
            loss_only: Sets `prediction_loss_only`.
        """
        fields: Any = self
        fields.do_predict = True
        fields.per_device_eval_batch_size = batch_size
        fields.prediction_loss_only = loss_only
        return self

    def set_save(
        self: _S,
        strategy: str | IntervalStrategy = "steps",
        steps: int = 500,
        total_limit: int | None = None,
        on_each_node: bool = False,
    ) -> _S:
        """Set the checkpoint-saving options in one call; returns `self`.

        Args:
            strategy: Sets `save_strategy`.
            steps: Sets `save_steps`.
            total_limit: Sets `save_total_limit`.
            on_each_node: Sets `save_on_each_node`.

        Raises:
            ValidationError: `strategy` is not a `SaveStrategy` value, or is `"steps"` with
                `steps=0`.
        """
        fields: Any = self
        fields.save_strategy = validation.to_enum("save_strategy", strategy, SaveStrategy)
        validation.check_setter_steps(fields.save_strategy, steps)
        fields.save_steps = steps
        fields.save_total_limit = total_limit
        fields.save_on_each_node = on_each_node
        return self

    def set_logging(
        self: _S,
        strategy: str | IntervalStrategy = "steps",
        steps: int = 500,
        report_to: str | list[str] = "none",
        level: str = "passive",
        first_step: bool = False,
        nan_inf_filter: bool = False,
        on_each_node: bool = False,
        replica_level: str = "passive",
    ) -> _S:
        """Set the logging options in one call; returns `self`.

        As in transformers, some defaults differ from the field defaults (`nan_inf_filter`
        is False here), and `report_to` is stored as given, not turned into a list.

        Args:
            strategy: Sets `logging_strategy`.
            steps: Sets `logging_steps`.
            report_to: Sets `report_to`.
            level: Sets `log_level`.
            first_step: Sets `logging_first_step`.
            nan_inf_filter: Sets `logging_nan_inf_filter`.
            on_each_node: Sets `log_on_each_node`.
            replica_level: Sets `log_level_replica`.

        Raises:
            ValidationError: `strategy` is not an `IntervalStrategy` value, or is `"steps"`
                with `steps=0`.
        """
        fields: Any = self
        fields.logging_strategy = validation.to_enum("logging_strategy", strategy, IntervalStrategy)
        validation.check_setter_steps(fields.logging_strategy, steps)
        fields.logging_steps = steps
        fields.report_to = report_to
        fields.log_level = level
        fields.logging_first_step = first_step
        fields.logging_nan_inf_filter = nan_inf_filter
        fields.log_on_each_node = on_each_node
        fields.log_level_replica = replica_level
        return self

    def set_push_to_hub(
        self: _S,
        model_id: str,
        strategy: str | HubStrategy = "every_save",
        token: str | None = None,
        private_repo: bool | None = None,
        always_push: bool = False,
        revision: str | None = None,
    ) -> _S:
        """Set the Hub options, and `push_to_hub=True`; returns `self`.

        Kept for transformers compatibility: this project's Trainer does not push to the Hub
        and refuses `push_to_hub=True` when it is built.

        Args:
            model_id: Sets `hub_model_id`.
            strategy: Sets `hub_strategy`.
            token: Sets `hub_token`.
            private_repo: Sets `hub_private_repo`.
            always_push: Sets `hub_always_push`.
            revision: Sets `hub_revision`.

        Raises:
            ValidationError: `strategy` is not a `HubStrategy` value.
        """
        fields: Any = self
        fields.push_to_hub = True
        fields.hub_model_id = model_id
        fields.hub_strategy = validation.to_enum("hub_strategy", strategy, HubStrategy)
        fields.hub_token = token
        fields.hub_private_repo = private_repo
        fields.hub_always_push = always_push
        fields.hub_revision = revision
        return self

    def set_optimizer(
        self: _S,
        name: str | OptimizerNames = "adamw_torch",
        learning_rate: float = 5e-5,
        weight_decay: float = 0,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        args: str | None = None,
    ) -> _S:
        """Choose the optimizer and its main hyperparameters in one call; returns `self`.

        Args:
            name: Sets `optim` (an `OptimizerNames` value).
            learning_rate: Sets `learning_rate`.
            weight_decay: Sets `weight_decay`.
            beta1: Sets `adam_beta1`.
            beta2: Sets `adam_beta2`.
            epsilon: Sets `adam_epsilon`.
            args: Sets `optim_args` (`"key=value,key2=value2"`).

        Raises:
            ValidationError: `name` is not an `OptimizerNames` value.
        """
        fields: Any = self
        fields.optim = validation.to_enum("optim", name, OptimizerNames)
        fields.learning_rate = learning_rate
        fields.weight_decay = weight_decay
        fields.adam_beta1 = beta1
        fields.adam_beta2 = beta2
        fields.adam_epsilon = epsilon
        fields.optim_args = args
        return self

    def set_lr_scheduler(
        self: _S,
        name: str | SchedulerType = "linear",
        num_epochs: float = 3.0,
        max_steps: int = -1,
        warmup_steps: float = 0,
    ) -> _S:
        """Choose the learning-rate schedule and the run length in one call; returns `self`.

        Args:
            name: Sets `lr_scheduler_type` (a `SchedulerType` value).
            num_epochs: Sets `num_train_epochs`.
            max_steps: Sets `max_steps` (a positive value overrides `num_epochs`).
            warmup_steps: Sets `warmup_steps` (below 1: a fraction of the training steps).

        Raises:
            ValidationError: `name` is not a `SchedulerType` value.
        """
        fields: Any = self
        fields.lr_scheduler_type = validation.to_enum("lr_scheduler_type", name, SchedulerType)
        fields.num_train_epochs = num_epochs
        fields.max_steps = max_steps
        fields.warmup_steps = warmup_steps
        return self

    def set_dataloader(
        self: _S,
        train_batch_size: int = 8,
        eval_batch_size: int = 8,
        drop_last: bool = False,
        num_workers: int = 0,
        pin_memory: bool = True,
        persistent_workers: bool = False,
        prefetch_factor: int | None = None,
        multiprocessing_context: str | None = None,
        in_order: bool = True,
        auto_find_batch_size: bool = False,
        ignore_data_skip: bool = False,
        sampler_seed: int | None = None,
    ) -> _S:
        """Set the data-loading options in one call; returns `self`.

        Args:
            train_batch_size: Sets `per_device_train_batch_size`.
            eval_batch_size: Sets `per_device_eval_batch_size`.
            drop_last: Sets `dataloader_drop_last`.
            num_workers: Sets `dataloader_num_workers`.
            pin_memory: Sets `dataloader_pin_memory`.
            persistent_workers: Sets `dataloader_persistent_workers`.
            prefetch_factor: Sets `dataloader_prefetch_factor`.
            multiprocessing_context: Sets `dataloader_multiprocessing_context`.
            in_order: Sets `dataloader_in_order`.
            auto_find_batch_size: Sets `auto_find_batch_size`.
            ignore_data_skip: Sets `ignore_data_skip`.
            sampler_seed: Sets `data_seed`.
        """
        fields: Any = self
        fields.per_device_train_batch_size = train_batch_size
        fields.per_device_eval_batch_size = eval_batch_size
        fields.dataloader_drop_last = drop_last
        fields.dataloader_num_workers = num_workers
        fields.dataloader_pin_memory = pin_memory
        fields.dataloader_persistent_workers = persistent_workers
        fields.dataloader_prefetch_factor = prefetch_factor
        fields.dataloader_multiprocessing_context = multiprocessing_context
        fields.dataloader_in_order = in_order
        fields.auto_find_batch_size = auto_find_batch_size
        fields.ignore_data_skip = ignore_data_skip
        fields.data_seed = sampler_seed
        return self
