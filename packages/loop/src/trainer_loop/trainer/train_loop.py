"""The train loop: epochs, one optimizer step per group of micro-batches, the end of training.

Same order of operations, callbacks and numbers as transformers' Trainer 5.x, with the
per-step overhead removed: the running loss, the NaN/Inf filter and the gradient norm stay
on the device and are read only when a log is due; nothing per step walks the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from trainer_dist.step_plan import distributed_kind, set_sync_gradients
from trainer_loop.trainer.attributes import TrainerAttributes
from trainer_loop.trainer.dataloaders import DataMixin
from trainer_loop.trainer.optimization import steps_on_metrics
from trainer_loop.trainer.run_state import TrainingRun
from trainer_loop.trainer.step import StepMixin

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["TrainLoopMixin"]


class TrainLoopMixin(TrainerAttributes):
    """`_inner_training_loop` -> `_run_epoch` -> one optimizer step -> `_finalize_training`."""

    def _inner_training_loop(
        self: Trainer,
        batch_size: int | None = None,
        args: Any = None,
        resume_from_checkpoint: str | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> Any:
        """Run the whole training: set-up, epochs, end of training. Returns `TrainOutput`."""
        from trainer_dist.accelerator import forget_prepared
        from trainer_dist.step_plan import fast_package_checks

        args = self.args if args is None else args
        if batch_size is not None and batch_size != self._train_batch_size:
            self.accelerator.free_memory()  # an out-of-memory retry: drop the old run's objects
        else:
            forget_prepared(self.accelerator)
        if args.auto_find_batch_size and batch_size is not None:
            self._update_auto_batch_size(batch_size)

        train_dataloader = self.get_train_dataloader()
        sizes = self.set_initial_training_values(args, train_dataloader)
        num_train_epochs, updates_per_epoch, _, num_train_samples, _, steps_in_epoch, max_steps = (
            sizes
        )
        epochs_trained, steps_trained_in_current_epoch = self._init_training_state(
            max_steps, updates_per_epoch, num_train_epochs, resume_from_checkpoint, trial
        )
        with fast_package_checks():
            model, train_dataloader = self._prepare_for_training(
                max_steps, train_dataloader, resume_from_checkpoint
            )
            self._log_run_start(model, sizes)
            if resume_from_checkpoint is not None:
                self._log_resume(epochs_trained, steps_trained_in_current_epoch)

            start_time = time.time()
            # The loss is filtered when it is read, unless a subclass may read it on any step.
            lazy = (
                type(self)._maybe_log_save_evaluate is TrainLoopMixin._default_log_save_evaluate()
            )
            run = self._run = TrainingRun.start(
                self.state, args.device, args.logging_nan_inf_filter, lazy
            )
            model.zero_grad()
            self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
            if args.eval_on_start:
                self._evaluate(trial, ignore_keys_for_eval, skip_scheduler=True)
            from trainer_loop.reporting.training_throughput import TrainingThroughput

            # Counted from here: the first interval does not include the evaluation on start.
            run.throughput = TrainingThroughput(self)

            for epoch in range(epochs_trained, num_train_epochs):
                self.control = self.callback_handler.on_epoch_begin(args, self.state, self.control)
                self._run_epoch(
                    model=model,
                    epoch=epoch,
                    train_dataloader=train_dataloader,
                    steps_in_epoch=steps_in_epoch,
                    num_update_steps_per_epoch=updates_per_epoch,
                    trial=trial,
                    ignore_keys_for_eval=ignore_keys_for_eval,
                    start_time=start_time,
                    resume_from_checkpoint=resume_from_checkpoint,
                    epochs_trained=epochs_trained,
                    steps_trained_in_current_epoch=steps_trained_in_current_epoch,
                )
                if self.control.should_training_stop:
                    break
            return self._finalize_training(trial, num_train_samples, start_time)

    def _log_run_start(self: Trainer, model: torch.nn.Module, sizes: tuple[Any, ...]) -> None:
        """The "***** Running training *****" block, line for line as transformers writes it."""
        if not logger.isEnabledFor(logging.INFO):
            return  # counting the parameters walks the model
        epochs, updates, examples, _, total_batch, _, max_steps = sizes
        args = self.args
        logger.info("***** Running training *****")
        logger.info(f"  Num examples = {examples:,}")
        logger.info(f"  Num Epochs = {epochs:,}")
        logger.info(f"  Num update steps per epoch = {updates:,}")
        logger.info(f"  Instantaneous batch size per device = {args.per_device_train_batch_size:,}")
        if args.per_device_train_batch_size != self._train_batch_size:
            logger.info(
                f"  Training with DataParallel so batch size has been adjusted to: {self._train_batch_size:,}"
            )
        logger.info(
            f"  Total train batch size (w. parallel, distributed & accumulation) = {total_batch:,}"
        )
        logger.info(f"  Gradient Accumulation steps = {args.gradient_accumulation_steps}")
        logger.info(f"  Total optimization steps = {max_steps:,}")
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        logger.info(f"  Number of trainable parameters = {trainable:,}")

    @staticmethod
    def _default_log_save_evaluate() -> Any:
        from trainer_loop.trainer.log_eval_save import LogEvalSaveMixin

        return LogEvalSaveMixin._maybe_log_save_evaluate

    def _log_resume(self: Trainer, epochs_trained: int, steps_in_epoch: int) -> None:
        logger.info(
            f"  Resuming training from checkpoint with epoch {epochs_trained} and global step "
            f"{self.state.global_step}"
        )
        if not self.args.ignore_data_skip:
            logger.info(
                f"  Fast-forwarding the dataloader past {epochs_trained} epochs and {steps_in_epoch} "
                "batches to resume from the exact training state."
            )

    def _run_epoch(
        self: Trainer,
        model: torch.nn.Module,
        epoch: int,
        train_dataloader: Any,
        steps_in_epoch: int,
        num_update_steps_per_epoch: int,
        trial: Any,
        ignore_keys_for_eval: list[str] | None,
        start_time: float,
        resume_from_checkpoint: str | None,
        epochs_trained: int,
        steps_trained_in_current_epoch: int,
    ) -> None:
        """One pass over the dataloader: one optimizer step per group of micro-batches."""
        from trainer_dist.loaders import set_epoch

        args, ga = self.args, self.args.gradient_accumulation_steps
        step = -1  # index of the last micro-batch taken in this epoch
        updates_done, rng_to_sync = 0, False
        if epoch == epochs_trained and resume_from_checkpoint is not None:
            if steps_trained_in_current_epoch > 0 and not args.ignore_data_skip:
                train_dataloader = self.get_resumed_dataloader(
                    train_dataloader, steps_trained_in_current_epoch
                )
                step = steps_trained_in_current_epoch - 1
                updates_done = steps_trained_in_current_epoch // ga
                rng_to_sync = True
            elif steps_trained_in_current_epoch == 0:
                self._load_rng_state(resume_from_checkpoint)
        set_epoch(train_dataloader, epoch)
        epoch_iterator = iter(train_dataloader)
        remainder = steps_in_epoch % ga or ga
        run = self._current_run()
        # Read once per epoch (a callback may change the model or the scheduler in between).
        run.parameters_of = (model, list(model.parameters()))
        run.grad_norm = run.learning_rate = None
        run.sync_every_batch = self._gradients_sync_every_batch()
        run.track_tokens = args.include_num_input_tokens_seen not in ("no", False, None)
        run.scheduler_steps_on_metrics = steps_on_metrics(self.lr_scheduler)
        run.loss_context_is_empty = self._keeps_default(
            StepMixin, "compute_loss_context_manager", "autocast_smart_context_manager"
        )
        keeps_placement = self._keeps_default(DataMixin, "_prepare_inputs", "_prepare_input")
        run.input_placement = self._input_placement() if keeps_placement else None
        logs_at = (model, trial, epoch, ignore_keys_for_eval, start_time)
        device = args.device

        for update_step in range(updates_done, num_update_steps_per_epoch):
            size = ga if update_step != num_update_steps_per_epoch - 1 else remainder
            group, num_items_in_batch = self.get_batch_samples(epoch_iterator, size, device)
            if rng_to_sync:
                # Restored after fetching, so that the skipped batches do not shift the RNG.
                self._load_rng_state(resume_from_checkpoint)
                rng_to_sync = False
            step = self._train_group(group, num_items_in_batch, step, steps_in_epoch, logs_at)
            if self.control.should_epoch_stop or self.control.should_training_stop:
                break

        if step < 0:
            logger.warning(
                "There seems not to be a single sample in your epoch_iterator, stopping training at step"
                f" {self.state.global_step}! This is expected if you're using an IterableDataset and set"
                f" num_steps ({self.state.max_steps}) higher than the number of available samples."
            )
            self.control.should_training_stop = True
        self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
        run.losses.settle()
        self._maybe_log_save_evaluate(
            run.tr_loss, run.grad_norm, model, trial, epoch, ignore_keys_for_eval,
            start_time, learning_rate=run.learning_rate,
        )  # fmt: skip

    def _train_group(
        self: Trainer,
        group: list[Any],
        num_items_in_batch: Any,
        step: int,
        steps_in_epoch: int,
        logs_at: tuple[Any, ...],
    ) -> int:
        """Forward/backward over one group of micro-batches, then the optimizer step.

        Returns the index of the last micro-batch taken in the epoch.
        """
        args, run, handler, state = (
            self.args,
            self._current_run(),
            self.callback_handler,
            self.state,
        )
        model, _, epoch = logs_at[:3]
        ga = args.gradient_accumulation_steps
        # Decided once for the group: it ends an optimizer step when its last micro-batch is the
        # step's (a short group at the end of an unsized epoch only accumulates, as transformers).
        last_index = step + len(group)
        ends_step = (last_index + 1) % ga == 0 or last_index + 1 == steps_in_epoch
        # An attribute, not an argument: `training_step`'s signature is transformers' (and
        # overridden by users), and it divides the loss by the group's real size.
        self.current_gradient_accumulation_steps = len(group)
        for i, inputs in enumerate(group):
            step += 1
            is_last = i == len(group) - 1
            set_sync_gradients(self.accelerator, is_last and ends_step)
            if step % ga == 0:
                self.control = handler.on_step_begin(args, state, self.control)
            if run.sync_every_batch or is_last:  # the last micro-batch all-reduces the gradients
                loss = self.training_step(model, inputs, num_items_in_batch)
            else:
                with self.accelerator.no_sync(model=model):
                    loss = self.training_step(model, inputs, num_items_in_batch)
            run.losses.add(loss)
            self.current_flos += float(self.floating_point_ops(inputs))
            if run.track_tokens:
                self._track_num_input_tokens(inputs)
            if run.throughput is not None:
                run.throughput.count(inputs)  # shapes only: a few integer additions
            if is_last and ends_step:
                run.grad_norm, run.learning_rate = self._optimizer_step(model)
                state.epoch = epoch + (step + 1) / steps_in_epoch
                self.control = handler.on_step_end(args, state, self.control)
                if self.control.should_log:
                    run.losses.settle()
                self._maybe_log_save_evaluate(
                    run.tr_loss, run.grad_norm, *logs_at, learning_rate=run.learning_rate
                )
            else:
                self.control = handler.on_substep_end(args, state, self.control)
            if self.control.should_epoch_stop or self.control.should_training_stop:
                break
        return step

    def _gradients_sync_every_batch(self: Trainer) -> bool:
        accelerator = self.accelerator
        sync_each_batch = accelerator.gradient_state.plugin_kwargs.get("sync_each_batch", False)
        return bool(sync_each_batch) or distributed_kind(accelerator) == "DEEPSPEED"

    def _optimizer_step(self: Trainer, model: torch.nn.Module) -> tuple[Any, float]:
        """Clip, step, schedule, zero the gradients, count the step; returns (grad norm, LR used).

        The gradient norm stays a device tensor: it is read only when a log is due.
        """
        args, handler, state = self.args, self.callback_handler, self.state
        grad_norm = self._clip_grad_norm(model) if args.max_grad_norm > 0 else None
        grad_norm = self._get_grad_norm(model, grad_norm=grad_norm)
        self.control = handler.on_pre_optimizer_step(args, state, self.control)
        plan = self._step_plan()
        plan.step_optimizer(self.optimizer)
        self.control = handler.on_optimizer_step(args, state, self.control)
        learning_rate = self._get_learning_rate()  # the LR of this step, before the scheduler moves
        run = self._current_run()
        stepped = plan.never_skips or not self.accelerator.optimizer_step_was_skipped
        if stepped and not run.scheduler_steps_on_metrics:
            self.lr_scheduler.step()
        if self.is_deepspeed_enabled:
            model.zero_grad()  # the engine manages its own (partitioned) gradients
        else:
            for param in self._model_parameters(model):  # zero_grad(set_to_none) without the walk
                param.grad = None
        state.global_step += 1
        return grad_norm, learning_rate

    def get_batch_samples(
        self: Trainer, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> tuple[list[Any], Any]:
        """Up to `num_batches` micro-batches and the number of label items over them."""
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        return batch_samples, self._get_num_items_in_batch(batch_samples, device)

    def _finalize_training(
        self: Trainer, trial: Any, num_train_samples: float, start_time: float
    ) -> Any:
        """Final metrics and log, best model, last rotation, `on_train_end`; returns `TrainOutput`."""
        from trainer_loop.metrics import speed_metrics
        from trainer_loop.outputs import TrainOutput

        logger.info("\n\nTraining completed.\n\n")
        state, run = self.state, self._current_run()
        run.losses.settle()
        run.total_loss_scalar += run.tr_loss.item()
        num_steps_trained = state.global_step - run.initial_global_step
        train_loss = run.total_loss_scalar / max(num_steps_trained, 0.001)
        metrics: dict[str, float] = speed_metrics(
            "train",
            start_time,
            num_samples=num_train_samples * num_steps_trained / max(state.max_steps, 1),
            num_steps=num_steps_trained,
        )
        self.store_flos()
        metrics["total_flos"] = state.total_flos
        metrics["train_loss"] = train_loss
        self._memory_tracker.stop_and_update_metrics(metrics, stage="train")
        self.log(metrics)

        if self.args.load_best_model_at_end and state.best_model_checkpoint is not None:
            self._load_best_model()
        self._delete_non_best_checkpoints(trial)
        self.control = self.callback_handler.on_train_end(self.args, state, self.control)
        if self.neftune_noise_alpha is not None and self.neftune_hook_handle is not None:
            from trainer_loop.neftune import deactivate_neftune

            deactivate_neftune(self.model, self.neftune_hook_handle, self.accelerator)
            self.neftune_hook_handle = None
        self.is_in_train = False
        return TrainOutput(state.global_step, train_loss, metrics)
