"""The training run: `train()` set-up, the epoch/step loop, log/evaluate/save, and the end of training.

Same order of operations, callbacks and numbers as `transformers.Trainer` 5.x, with the
per-step overhead removed: the running loss, the NaN/Inf filter and the gradient norm stay
on the device and are read only when a log is due; nothing per step walks the model.
Every overridable hook is called through the trainer (`trainer.training_step`, ...).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from trainer_loop.data import has_length
from trainer_loop.throughput_logging import TrainingThroughput

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = [
    "finalize_training",
    "inner_training_loop",
    "maybe_log_save_evaluate",
    "run_epoch",
    "run_train",
    "set_initial_training_values",
]

TRAINER_STATE_NAME = "trainer_state.json"


def _is_plateau(scheduler: Any) -> bool:
    """ReduceLROnPlateau and GreedyLR step on metrics, after evaluation, not after each step."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return True
    return type(scheduler).__name__ == "GreedyLR"


# ---------------------------------------------------------------------------------------------
# train() preamble
# ---------------------------------------------------------------------------------------------


def _enable_activation_checkpointing(model: Any, args: Any) -> None:
    kwargs = dict(args.activation_checkpointing_kwargs or {})
    every_n_layers = kwargs.pop("every_n_layers", 1)
    offload = kwargs.pop("offload", False)
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs=kwargs or None,
            every_n_layers=every_n_layers,
            offload=offload,
        )
    elif hasattr(model, "gradient_checkpointing_enable"):
        warnings.warn(
            f"`{type(model).__name__}` only defines `gradient_checkpointing_enable`, which is deprecated and will "
            "no longer be called in v6. Define `activation_checkpointing_enable` instead.",
            FutureWarning,
            stacklevel=3,
        )
        model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=kwargs or None,
            every_n_layers=every_n_layers,
            offload=offload,
        )
    else:
        raise ValueError(
            f"`activation_checkpointing=True` needs a model with `activation_checkpointing_enable()` (or "
            f"`gradient_checkpointing_enable()`), and `{type(model).__name__}` has neither."
        )


def _apply_liger_kernel(model: Any, args: Any) -> None:
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError as exc:
        raise ImportError(
            "`use_liger_kernel=True` needs the liger-kernel package (`pip install liger-kernel`), which is not "
            "installed. Install it or set `use_liger_kernel=False`."
        ) from exc
    _apply_liger_kernel_to_instance(model=model, **(args.liger_kernel_config or {}))


def _resolve_resume(trainer: Trainer, resume_from_checkpoint: str | bool | None) -> str | None:
    if resume_from_checkpoint is False or resume_from_checkpoint is None:
        return None
    if resume_from_checkpoint is True:
        path = trainer._get_last_checkpoint(trainer.args.output_dir)
        if path is None:
            raise ValueError(
                f"No valid checkpoint found in output directory ({trainer.args.output_dir})"
            )
        return path
    return str(resume_from_checkpoint)


def run_train(
    trainer: Trainer,
    resume_from_checkpoint: str | bool | None = None,
    trial: Any = None,
    ignore_keys_for_eval: list[str] | None = None,
) -> Any:
    """Body of `Trainer.train()`."""
    args = trainer.args
    trainer._memory_tracker.start(stage="train")
    trainer.is_in_train = True
    trainer._flops_cache = (
        None  # the model may have changed since the last run (resized embeddings)
    )
    # Before model_init (transformers sets a trial's values after it): a trial's seed then also
    # seeds its model, so re-running the best trial reproduces its objective (see hpsearch.py).
    trainer._hp_search_setup(trial)

    if trainer.model_init is not None:
        # Seed before building the model so that its initial weights are reproducible.
        trainer._seed()
        trainer.model = trainer.call_model_init(trial)
        trainer.optimizer, trainer.lr_scheduler = None, None
        if trainer.place_model_on_device:
            trainer._move_model_to_device(trainer.model, args.device)
        trainer.model_wrapped = trainer.model
        trainer._flops_cache = None

    if args.use_liger_kernel:
        _apply_liger_kernel(trainer.model, args)
    if "underflow_overflow" in [str(getattr(d, "value", d)) for d in (args.debug or [])]:
        logger.warning(
            "`debug='underflow_overflow'` is not supported by this Trainer; training runs without it."
        )
    if (
        (args.fp16_full_eval or args.bf16_full_eval)
        and not trainer.is_model_parallel
        and trainer.model_init is None
    ):
        trainer._move_model_to_device(trainer.model, args.device)
    if args.activation_checkpointing:
        _enable_activation_checkpointing(trainer.model, args)
    if trainer.processing_class is not None and hasattr(trainer.model, "config"):
        from trainer_loop.special_tokens import align_special_tokens

        align_special_tokens(trainer.model, trainer.processing_class)
    if trainer.neftune_noise_alpha is not None:
        from trainer_loop.neftune import activate_neftune

        trainer.neftune_hook_handle = activate_neftune(
            trainer.model, trainer.neftune_noise_alpha, trainer.accelerator
        )

    resume = _resolve_resume(trainer, resume_from_checkpoint)
    if resume is not None:
        if not trainer.is_deepspeed_enabled and not trainer.is_fsdp_enabled:
            trainer._load_from_checkpoint(resume)
        state_path = os.path.join(resume, TRAINER_STATE_NAME)
        if os.path.isfile(state_path) and args.auto_find_batch_size:
            from trainer_loop.state import TrainerState

            saved = TrainerState.load_from_json(state_path)
            if saved.train_batch_size is not None:
                trainer._train_batch_size = saved.train_batch_size

    loop_kwargs = {"args": args, "resume_from_checkpoint": resume, "trial": trial,
                   "ignore_keys_for_eval": ignore_keys_for_eval}  # fmt: skip
    if args.auto_find_batch_size:
        from trainer_dist.batch_size import find_executable_batch_size

        inner = find_executable_batch_size(
            trainer._inner_training_loop,
            starting_batch_size=trainer._train_batch_size,
            auto_find_batch_size=True,
        )
        return inner(**loop_kwargs)
    return trainer._inner_training_loop(batch_size=trainer._train_batch_size, **loop_kwargs)


# ---------------------------------------------------------------------------------------------
# Sizes of the run
# ---------------------------------------------------------------------------------------------


def set_initial_training_values(
    trainer: Trainer, args: Any, dataloader: Any
) -> tuple[int, int, int, int, int, int, int]:
    """`(num_train_epochs, num_update_steps_per_epoch, num_examples, num_train_samples,
    total_train_batch_size, steps_in_epoch, max_steps)` exactly as transformers computes them."""
    max_steps = args.max_steps
    epoch_based = max_steps < 0
    len_dataloader = len(dataloader) if has_length(dataloader) else None
    total_train_batch_size = trainer.get_total_train_batch_size(args)
    ga = args.gradient_accumulation_steps

    num_update_steps_per_epoch = 0
    if len_dataloader is not None:
        num_update_steps_per_epoch = max(len_dataloader // ga + int(len_dataloader % ga > 0), 1)
        if epoch_based:
            max_steps = math.ceil(args.num_train_epochs * num_update_steps_per_epoch)
    if len_dataloader:
        num_examples = trainer.num_examples(dataloader)
        if args.max_steps > 0:
            num_train_epochs = max_steps // num_update_steps_per_epoch + int(
                max_steps % num_update_steps_per_epoch > 0
            )
            num_train_samples = max_steps * total_train_batch_size
        else:
            num_train_epochs = math.ceil(args.num_train_epochs)
            num_train_samples = trainer.num_examples(dataloader) * args.num_train_epochs
    elif args.max_steps > 0:
        # Unsized data: loop over the iterator as many times as max_steps needs.
        num_train_epochs = sys.maxsize
        num_update_steps_per_epoch = max_steps
        num_examples = total_train_batch_size * args.max_steps
        num_train_samples = args.max_steps * total_train_batch_size
    else:
        raise ValueError(
            f"args.max_steps must be set to a positive value if dataloader does not have a length, was {args.max_steps}"
        )
    steps_in_epoch = len_dataloader if len_dataloader is not None else max_steps * ga
    return (
        num_train_epochs,
        num_update_steps_per_epoch,
        num_examples,
        num_train_samples,
        total_train_batch_size,
        steps_in_epoch,
        max_steps,
    )


# ---------------------------------------------------------------------------------------------
# The inner loop
# ---------------------------------------------------------------------------------------------


def _reset_accelerator(trainer: Trainer, batch_size_changed: bool) -> None:
    """Forget previously prepared objects; collect garbage only after an OOM retry (it is slow)."""
    accelerator = trainer.accelerator
    if batch_size_changed:
        accelerator.free_memory()
        return
    accelerator._schedulers = []
    accelerator._optimizers = []
    accelerator._models = []
    accelerator._dataloaders = []
    accelerator.step = 0


def _update_auto_batch_size(trainer: Trainer, batch_size: int) -> None:
    trainer._train_batch_size = batch_size
    trainer.model_wrapped = trainer.model


def inner_training_loop(
    trainer: Trainer,
    batch_size: int | None = None,
    args: Any = None,
    resume_from_checkpoint: str | None = None,
    trial: Any = None,
    ignore_keys_for_eval: list[str] | None = None,
) -> Any:
    """Run the whole training: set-up, epochs, end of training. Returns `TrainOutput`."""
    args = trainer.args if args is None else args
    changed = batch_size is not None and batch_size != trainer._train_batch_size
    _reset_accelerator(trainer, batch_size_changed=changed)
    if args.auto_find_batch_size and batch_size is not None:
        _update_auto_batch_size(trainer, batch_size)

    train_dataloader = trainer.get_train_dataloader()
    (num_train_epochs, num_update_steps_per_epoch, num_examples, num_train_samples,
     total_train_batch_size, steps_in_epoch, max_steps) = trainer.set_initial_training_values(
        args, train_dataloader
    )  # fmt: skip

    epochs_trained, steps_trained_in_current_epoch = trainer._init_training_state(
        max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
    )
    model, train_dataloader = trainer._prepare_for_training(
        max_steps, train_dataloader, resume_from_checkpoint
    )

    _log_run(trainer, model, num_examples, num_train_epochs, num_update_steps_per_epoch,
             total_train_batch_size, max_steps)  # fmt: skip
    if resume_from_checkpoint is not None:
        _log_resume(trainer, epochs_trained, steps_trained_in_current_epoch)

    start_time = time.time()
    trainer._initial_num_input_tokens_seen = trainer.state.num_input_tokens_seen
    trainer._initial_global_step = trainer.state.global_step
    # The running loss stays on the device between logs (no per-step .item()).
    trainer._tr_loss = torch.tensor(0.0, device=args.device)
    trainer._losses = LossAccumulator(
        trainer,
        lazy=type(trainer)._maybe_log_save_evaluate is _default_maybe_log_save_evaluate(),
    )
    trainer._total_loss_scalar = 0.0
    trainer._globalstep_last_logged = trainer.state.global_step

    model.zero_grad()
    trainer.control = trainer.callback_handler.on_train_begin(args, trainer.state, trainer.control)
    if args.eval_on_start:
        trainer._evaluate(trial, ignore_keys_for_eval, skip_scheduler=True)
    # Counted from here: the first interval does not include the evaluation on start.
    trainer._throughput = TrainingThroughput(trainer)

    for epoch in range(epochs_trained, num_train_epochs):
        trainer.control = trainer.callback_handler.on_epoch_begin(
            args, trainer.state, trainer.control
        )
        trainer._run_epoch(
            model=model,
            epoch=epoch,
            train_dataloader=train_dataloader,
            steps_in_epoch=steps_in_epoch,
            num_update_steps_per_epoch=num_update_steps_per_epoch,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            start_time=start_time,
            resume_from_checkpoint=resume_from_checkpoint,
            epochs_trained=epochs_trained,
            steps_trained_in_current_epoch=steps_trained_in_current_epoch,
        )
        if trainer.control.should_training_stop:
            break

    return trainer._finalize_training(trial, num_train_samples, start_time)


def _log_run(
    trainer: Trainer,
    model: torch.nn.Module,
    num_examples: int,
    num_train_epochs: int,
    num_update_steps_per_epoch: int,
    total_train_batch_size: int,
    max_steps: int,
) -> None:
    """The "***** Running training *****" block, line for line as transformers writes it."""
    if not logger.isEnabledFor(logging.INFO):
        return  # counting the parameters walks the model
    args = trainer.args
    logger.info("***** Running training *****")
    logger.info(f"  Num examples = {num_examples:,}")
    logger.info(f"  Num Epochs = {num_train_epochs:,}")
    logger.info(f"  Num update steps per epoch = {num_update_steps_per_epoch:,}")
    logger.info(f"  Instantaneous batch size per device = {args.per_device_train_batch_size:,}")
    if args.per_device_train_batch_size != trainer._train_batch_size:
        logger.info(
            f"  Training with DataParallel so batch size has been adjusted to: {trainer._train_batch_size:,}"
        )
    logger.info(
        f"  Total train batch size (w. parallel, distributed & accumulation) = {total_train_batch_size:,}"
    )
    logger.info(f"  Gradient Accumulation steps = {args.gradient_accumulation_steps}")
    logger.info(f"  Total optimization steps = {max_steps:,}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info(f"  Number of trainable parameters = {trainable:,}")


def _log_resume(trainer: Trainer, epochs_trained: int, steps_in_epoch: int) -> None:
    logger.info(
        f"  Resuming training from checkpoint with epoch {epochs_trained} and global step "
        f"{trainer.state.global_step}"
    )
    if not trainer.args.ignore_data_skip:
        logger.info(
            f"  Fast-forwarding the dataloader past {epochs_trained} epochs and {steps_in_epoch} "
            "batches to resume from the exact training state."
        )


def _warn_on_changed_steps(args: Any, state: Any) -> None:
    """Warn when logging/eval/save steps or the batch size differ from the resumed checkpoint's."""
    mismatches = [
        f"\n\t{name}: {getattr(args, name)} (from args) != {getattr(state, name)} (from trainer_state.json)"
        for name in ("logging_steps", "eval_steps", "save_steps")
        if getattr(args, name, None) is not None
        and getattr(state, name, None) is not None
        and getattr(args, name) != getattr(state, name)
    ]
    if state.train_batch_size is not None:
        state_bs = state.train_batch_size // max(1, args.n_gpu)
        if args.per_device_train_batch_size != state_bs:
            mismatches.append(
                f"\n\tper_device_train_batch_size: {args.per_device_train_batch_size} (from args) != {state_bs} "
                "(from trainer_state.json)"
            )
    if mismatches:
        logger.warning(
            "Warning: The following arguments do not match the ones in the `trainer_state.json` within the "
            "checkpoint directory: " + "".join(mismatches)
        )


def init_training_state(
    trainer: Trainer,
    max_steps: int,
    num_update_steps_per_epoch: int,
    num_train_epochs: int,
    resume_from_checkpoint: str | None,
    trial: Any,
) -> tuple[int, int]:
    """A fresh `TrainerState` (or the checkpoint's); returns `(epochs_trained, steps_trained_in_current_epoch)`."""
    from trainer_loop.state import TrainerState

    trainer.state = TrainerState(stateful_callbacks=trainer._exportable_callbacks())
    trainer.state.is_hyper_param_search = trial is not None
    trainer.state.train_batch_size = trainer._train_batch_size
    trainer.state.compute_steps(trainer.args, max_steps)

    epochs_trained = 0
    steps_trained_in_current_epoch = 0
    state_path = (
        None
        if resume_from_checkpoint is None
        else os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)
    )
    if state_path is not None and os.path.isfile(state_path):
        trainer.state = TrainerState.load_from_json(state_path)
        best = trainer.state.best_model_checkpoint
        if best is not None and not os.path.isdir(best):
            logger.warning(
                f"The best checkpoint {best} recorded in the resumed state does not exist anymore. Ignoring it."
            )
            trainer.state.best_model_checkpoint = None
        _warn_on_changed_steps(trainer.args, trainer.state)
        trainer._load_callback_state()
        epochs_trained = int(trainer.state.global_step // num_update_steps_per_epoch)
        if not trainer.args.ignore_data_skip:
            steps_trained_in_current_epoch = trainer.state.global_step % num_update_steps_per_epoch
            steps_trained_in_current_epoch *= trainer.args.gradient_accumulation_steps

    trainer.state.init_training_references(trainer, max_steps, num_train_epochs, trial)
    return epochs_trained, steps_trained_in_current_epoch


def _cache_accelerate_package_checks() -> None:
    """Cache two checks accelerate repeats on every optimizer step (about 100 µs on CPU).

    `is_lomo_available()` runs an uncached `importlib` search (twice per `optimizer.step()`),
    `is_torch_version()` parses version strings in every `clip_grad_norm_`. Installed packages
    do not change during a run, so the cached answers are the same.
    """
    import accelerate.accelerator as accelerator_module
    import accelerate.optimizer as optimizer_module

    for module, name in (
        (optimizer_module, "is_lomo_available"),
        (accelerator_module, "is_torch_version"),
    ):
        check = getattr(module, name, None)
        if check is not None and not hasattr(check, "cache_info"):
            setattr(module, name, functools.cache(check))


def prepare_for_training(
    trainer: Trainer, max_steps: int, train_dataloader: Any, resume_from_checkpoint: str | None
) -> tuple[torch.nn.Module, Any]:
    """Create the optimizer, prepare model and optimizer with accelerate, create the scheduler, resume."""
    if trainer._created_lr_scheduler:
        # A scheduler the Trainer built is rebuilt for the new run's length.
        trainer.lr_scheduler = None
        trainer._created_lr_scheduler = False

    _cache_accelerate_package_checks()
    delay_optimizer_creation = (
        trainer.is_fsdp_enabled
        and getattr(trainer.accelerator.state.fsdp_plugin, "fsdp_version", 1) != 2
    )
    if not delay_optimizer_creation:
        trainer.create_optimizer()

    model = trainer._wrap_model(trainer.model_wrapped)
    accelerator = trainer.accelerator
    if model is trainer.model:
        if delay_optimizer_creation:
            model = accelerator.prepare(trainer.model)
            trainer.create_optimizer(model)
            trainer.optimizer = accelerator.prepare(trainer.optimizer)
        else:
            model, trainer.optimizer = accelerator.prepare(trainer.model, trainer.optimizer)
    else:
        trainer.optimizer = accelerator.prepare(trainer.optimizer)

    trainer.create_scheduler(num_training_steps=max_steps)
    trainer.model_wrapped = model
    if trainer.is_fsdp_enabled:
        trainer.model = trainer.model_wrapped = model

    if resume_from_checkpoint is not None:
        if trainer.is_fsdp_enabled:
            trainer._load_from_checkpoint(resume_from_checkpoint, trainer.model_wrapped)
        trainer._load_optimizer_and_scheduler(resume_from_checkpoint)

    handler = trainer.callback_handler
    handler.model = trainer.model
    handler.optimizer = trainer.optimizer
    handler.lr_scheduler = trainer.lr_scheduler
    handler.train_dataloader = train_dataloader
    return model, train_dataloader


# ---------------------------------------------------------------------------------------------
# One epoch
# ---------------------------------------------------------------------------------------------


def _skip_first_batches(dataloader: Any, num_batches: int) -> Any:
    from accelerate import skip_first_batches

    return skip_first_batches(dataloader, num_batches)


def _set_epoch(dataloader: Any, epoch: int) -> None:
    if hasattr(dataloader, "set_epoch"):
        dataloader.set_epoch(epoch)
    # accelerate's DataLoaderShard.set_epoch does not reach a batch sampler wrapped in BatchSamplerShard.
    underlying: Any = getattr(getattr(dataloader, "batch_sampler", None), "batch_sampler", None)
    if hasattr(underlying, "set_epoch"):
        underlying.set_epoch(epoch)


class LossAccumulator:
    """The running training loss between logs, with transformers' NaN/Inf filter.

    The filter (`logging_nan_inf_filter`) adds the running average instead of a non-finite
    micro-batch loss. transformers checks every loss on the host (a device synchronisation
    per micro-batch). Here the losses are summed as they come, and the filter runs only when
    the sum is read (`settle()`, before a log): a finite sum means no loss was filtered, and
    otherwise the sum is replayed from the last settled value, applying the filter loss by
    loss. Either way the tensor holds exactly what the per-step filter would have produced
    (the same float32 operations in the same order), at one add per micro-batch.

    A Trainer that overrides `_maybe_log_save_evaluate` may read the loss on any step, so
    there the filter runs eagerly, on the device, without a synchronisation.
    """

    def __init__(self, trainer: Trainer, lazy: bool) -> None:
        self.trainer = trainer
        self.filter = bool(trainer.args.logging_nan_inf_filter)
        self.lazy = lazy and self.filter
        self.device: torch.device = trainer._tr_loss.device
        self._base: torch.Tensor | None = None  # the settled sum the pending losses add to
        self._pending: list[tuple[torch.Tensor, int]] = []  # (loss, global step when added)

    def add(self, step_loss: torch.Tensor) -> None:
        tr_loss = self.trainer._tr_loss
        if step_loss.device != self.device:
            raise ValueError(
                f"Calculated loss must be on the original device: {tr_loss.device} but device in use is "
                f"{step_loss.device}"
            )
        if self.lazy:
            if step_loss.requires_grad:
                # An overridden training_step that returns the loss undetached: keeping it
                # until the next log would keep its whole graph (the activations) alive.
                step_loss = step_loss.detach()
            if not self._pending:
                self._base = tr_loss.clone()
            self._pending.append((step_loss, self.trainer.state.global_step))
        elif self.filter:
            # `x - x == 0` is `isfinite(x)` in two ops instead of four (inf - inf, NaN give NaN).
            finite = (step_loss - step_loss) == 0
            step_loss = torch.where(finite, step_loss, tr_loss / self._steps_since_log())
        tr_loss += step_loss

    def settle(self) -> None:
        """Make the running loss what the per-step filter gives (a no-op when it is finite)."""
        pending, self._pending = self._pending, []
        tr_loss = self.trainer._tr_loss
        if not pending or math.isfinite(tr_loss.item()):
            return
        assert self._base is not None
        total = self._base
        last_logged = self.trainer._globalstep_last_logged
        for step_loss, global_step in pending:
            if step_loss.numel() == 1 and math.isfinite(step_loss.item()):
                total = total + step_loss
            elif step_loss.numel() == 1:
                total = total + total / (1 + global_step - last_logged)
            else:
                finite = (step_loss - step_loss) == 0
                total = total + torch.where(
                    finite, step_loss, total / (1 + global_step - last_logged)
                )
        tr_loss.copy_(total)

    def _steps_since_log(self) -> int:
        trainer = self.trainer
        return 1 + trainer.state.global_step - trainer._globalstep_last_logged


def _default_maybe_log_save_evaluate() -> Any:
    from trainer_loop.trainer import Trainer

    return Trainer._maybe_log_save_evaluate


def run_epoch(
    trainer: Trainer,
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
    """One pass over the dataloader, one optimizer step per `gradient_accumulation_steps` micro-batches."""
    args = trainer.args
    ga = args.gradient_accumulation_steps
    accelerator = trainer.accelerator
    handler = trainer.callback_handler
    state = trainer.state
    step = -1
    grad_norm: Any = None
    learning_rate: float | None = None
    rng_to_sync = False

    num_update_steps_trained = 0
    if epoch == epochs_trained and resume_from_checkpoint is not None:
        if steps_trained_in_current_epoch > 0 and not args.ignore_data_skip:
            train_dataloader = _skip_first_batches(train_dataloader, steps_trained_in_current_epoch)
            step = steps_trained_in_current_epoch - 1
            num_update_steps_trained = steps_trained_in_current_epoch // ga
            rng_to_sync = True
        elif steps_trained_in_current_epoch == 0:
            trainer._load_rng_state(resume_from_checkpoint)

    _set_epoch(train_dataloader, epoch)
    epoch_iterator = iter(train_dataloader)
    remainder = steps_in_epoch % ga or ga
    sync_each_batch = accelerator.gradient_state.plugin_kwargs.get("sync_each_batch", False)
    # Parameters are listed once per epoch (a callback may change the model between epochs).
    trainer._parameters_cache = None
    params = trainer._model_parameters(model)
    always_sync = sync_each_batch or accelerator.distributed_type == "DEEPSPEED"
    losses = trainer._losses
    track_tokens = args.include_num_input_tokens_seen not in ("no", False, None)
    plateau = _is_plateau(trainer.lr_scheduler)
    device = args.device
    throughput = trainer._throughput
    gradient_state = accelerator.gradient_state

    for update_step in range(num_update_steps_trained, num_update_steps_per_epoch):
        num_batches = ga if update_step != num_update_steps_per_epoch - 1 else remainder
        batch_samples, num_items_in_batch = trainer.get_batch_samples(
            epoch_iterator, num_batches, device
        )
        # The last group of an epoch can be short: the loss is divided by its real size.
        trainer.current_gradient_accumulation_steps = len(batch_samples)
        if rng_to_sync:
            # Restored after fetching, so that the skipped batches do not shift the RNG.
            trainer._load_rng_state(resume_from_checkpoint)
            rng_to_sync = False

        last = len(batch_samples) - 1
        for i, inputs in enumerate(batch_samples):
            step += 1
            do_sync_step = (step + 1) % ga == 0 or (step + 1) == steps_in_epoch
            if gradient_state.sync_gradients != do_sync_step:  # the call costs a TPU probe
                gradient_state._set_sync_gradients(do_sync_step)
            if step % ga == 0:
                trainer.control = handler.on_step_begin(args, state, trainer.control)

            if always_sync or i == last:
                tr_loss_step = trainer.training_step(model, inputs, num_items_in_batch)
            else:
                with accelerator.no_sync(model=model):
                    tr_loss_step = trainer.training_step(model, inputs, num_items_in_batch)
            losses.add(tr_loss_step)

            trainer.current_flos += float(trainer.floating_point_ops(inputs))
            if track_tokens:
                trainer._track_num_input_tokens(inputs)
            if throughput is not None:
                throughput.count(inputs)  # shapes only: a few integer additions

            if do_sync_step:
                grad_norm, learning_rate = _optimizer_step(trainer, model, params, plateau)
                state.epoch = epoch + (step + 1) / steps_in_epoch
                trainer.control = handler.on_step_end(args, state, trainer.control)
                if trainer.control.should_log:
                    losses.settle()
                trainer._maybe_log_save_evaluate(
                    trainer._tr_loss, grad_norm, model, trial, epoch, ignore_keys_for_eval, start_time,
                    learning_rate=learning_rate,
                )  # fmt: skip
            else:
                trainer.control = handler.on_substep_end(args, state, trainer.control)

            if trainer.control.should_epoch_stop or trainer.control.should_training_stop:
                break
        if trainer.control.should_epoch_stop or trainer.control.should_training_stop:
            break

    if step < 0:
        logger.warning(
            "There seems not to be a single sample in your epoch_iterator, stopping training at step"
            f" {state.global_step}! This is expected if you're using an IterableDataset and set"
            f" num_steps ({state.max_steps}) higher than the number of available samples."
        )
        trainer.control.should_training_stop = True

    trainer.control = handler.on_epoch_end(args, state, trainer.control)
    losses.settle()
    trainer._maybe_log_save_evaluate(
        trainer._tr_loss, grad_norm, model, trial, epoch, ignore_keys_for_eval, start_time,
        learning_rate=learning_rate,
    )  # fmt: skip


def _optimizer_step(
    trainer: Trainer, model: torch.nn.Module, params: list[torch.nn.Parameter], plateau: bool
) -> tuple[Any, float]:
    """Clip, step, schedule, zero the gradients, count the step; returns (grad norm, LR used).

    The gradient norm stays a device tensor: it is read only when a log is due.
    """
    args, handler, state = trainer.args, trainer.callback_handler, trainer.state
    grad_norm = trainer._clip_grad_norm(model) if args.max_grad_norm > 0 else None
    grad_norm = trainer._get_grad_norm(model, grad_norm=grad_norm)
    trainer.control = handler.on_pre_optimizer_step(args, state, trainer.control)
    plan = trainer._step_plan()
    plan.step_optimizer(trainer.optimizer)
    trainer.control = handler.on_optimizer_step(args, state, trainer.control)
    learning_rate = trainer._get_learning_rate()  # the LR of this step, before the scheduler moves
    if not plateau and (plan.never_skips or not trainer.accelerator.optimizer_step_was_skipped):
        trainer.lr_scheduler.step()
    if trainer.is_deepspeed_enabled:
        model.zero_grad()  # the engine manages its own (partitioned) gradients
    else:
        for param in params:  # model.zero_grad(set_to_none=True) without walking the modules
            param.grad = None
    state.global_step += 1
    return grad_norm, learning_rate


def get_batch_samples(
    trainer: Trainer, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
) -> tuple[list[Any], Any]:
    """Pull up to `num_batches` micro-batches and count the step's label items."""
    batch_samples = []
    for _ in range(num_batches):
        try:
            batch_samples.append(next(epoch_iterator))
        except StopIteration:
            break
    return batch_samples, trainer._get_num_items_in_batch(batch_samples, device)


# ---------------------------------------------------------------------------------------------
# Log / evaluate / save
# ---------------------------------------------------------------------------------------------


def _mean_over_processes(trainer: Trainer, tensor: torch.Tensor) -> float:
    if trainer.args.world_size > 1:
        return float(trainer.accelerator.gather(tensor.reshape(1)).mean().item())
    return float(tensor.item())


def maybe_log_save_evaluate(
    trainer: Trainer,
    tr_loss: torch.Tensor,
    grad_norm: Any,
    model: torch.nn.Module,
    trial: Any,
    epoch: float,
    ignore_keys_for_eval: list[str] | None,
    start_time: float,
    learning_rate: float | None = None,
) -> None:
    """Log (the only place the running loss is read), evaluate, then save, as the control flags say."""
    state = trainer.state
    if trainer.control.should_log and state.global_step > trainer._globalstep_last_logged:
        tr_loss_scalar = _mean_over_processes(trainer, tr_loss)
        tr_loss -= tr_loss
        logs: dict[str, float] = {
            "loss": tr_loss_scalar / (state.global_step - trainer._globalstep_last_logged)
        }
        if grad_norm is not None:
            logs["grad_norm"] = (
                grad_norm.item() if isinstance(grad_norm, torch.Tensor) else grad_norm
            )
        logs["learning_rate"] = (
            learning_rate if learning_rate is not None else trainer._get_learning_rate()
        )
        trainer._total_loss_scalar += tr_loss_scalar
        trainer._globalstep_last_logged = state.global_step
        trainer.store_flos()
        # After the loss was read (the device is done): `Trainer.log` adds these to the
        # `on_log` payload only, never to `log_history` (which stays as transformers writes it).
        throughput = trainer._throughput
        trainer._log_extras = throughput.log_metrics() if throughput is not None else None
        trainer.log(logs, start_time)

    evaluating = trainer.control.should_evaluate  # the handler clears it in on_evaluate
    paused = time.perf_counter() if evaluating or trainer.control.should_save else 0.0
    if evaluating:
        metrics = trainer._evaluate(trial, ignore_keys_for_eval)
        is_new_best = trainer._determine_best_metric(metrics=metrics, trial=trial)
        if trainer.args.save_strategy == "best":
            trainer.control.should_save = is_new_best

    saving = trainer.control.should_save
    if saving:
        trainer._save_checkpoint(model, trial)
        trainer.control = trainer.callback_handler.on_save(trainer.args, state, trainer.control)
    if trainer._throughput is not None and (evaluating or saving):
        trainer._throughput.exclude(time.perf_counter() - paused)  # not training time


def _metric_key(args: Any) -> str:
    key = args.metric_for_best_model
    return key if key.startswith("eval_") else f"eval_{key}"


def _missing_metric(key: str, metrics: dict[str, float], extra: str = "") -> KeyError:
    return KeyError(
        f"The `metric_for_best_model` training argument is set to '{key}', which is not found in the evaluation "
        f"metrics. The available evaluation metrics are: {list(metrics.keys())}.{extra} Consider changing the "
        "`metric_for_best_model` via the TrainingArguments."
    )


def evaluate_during_training(
    trainer: Trainer,
    trial: Any,
    ignore_keys_for_eval: list[str] | None,
    skip_scheduler: bool = False,
) -> dict[str, float]:
    """`evaluate()` inside training, then the plateau scheduler step on the tracked metric."""
    try:
        metrics = trainer.evaluate(ignore_keys=ignore_keys_for_eval)
    except RuntimeError as exc:
        if trainer.args.auto_find_batch_size and "out of memory" in str(exc).lower():
            raise RuntimeError(
                "Evaluation hit an out-of-memory error. `auto_find_batch_size` only adjusts the training batch "
                "size, reduce `per_device_eval_batch_size` instead."
            ) from exc
        raise
    trainer._report_to_hp_search(trial, trainer.state.global_step, metrics)
    if _is_plateau(trainer.lr_scheduler) and not skip_scheduler:
        key = _metric_key(trainer.args)
        if key not in metrics:
            raise _missing_metric(key, metrics, " Make sure `compute_metrics` returns it.")
        trainer.lr_scheduler.step(metrics[key])
    return metrics


def determine_best_metric(trainer: Trainer, metrics: dict[str, float]) -> bool:
    """Track `best_metric`/`best_global_step`; True when this evaluation is a new best."""
    args = trainer.args
    if args.metric_for_best_model is None:
        return False
    key = _metric_key(args)
    if key not in metrics:
        raise _missing_metric(key, metrics)
    value = metrics[key]
    state = trainer.state
    if state.best_metric is None:
        state.best_metric = float("-inf") if args.greater_is_better else float("inf")
    better = value > state.best_metric if args.greater_is_better else value < state.best_metric
    if not better:
        return False
    state.best_metric = value
    if args.save_strategy in ("steps", "epoch", "best"):
        state.best_global_step = state.global_step
    return True


# ---------------------------------------------------------------------------------------------
# End of training
# ---------------------------------------------------------------------------------------------


def finalize_training(
    trainer: Trainer, trial: Any, num_train_samples: float, start_time: float
) -> Any:
    """Final metrics and log, best model, last rotation, `on_train_end`; returns `TrainOutput`."""
    from trainer_loop.metrics import speed_metrics
    from trainer_loop.outputs import TrainOutput

    logger.info("\n\nTraining completed.\n\n")
    state = trainer.state
    trainer._losses.settle()
    trainer._total_loss_scalar += trainer._tr_loss.item()
    num_steps_trained = state.global_step - trainer._initial_global_step
    train_loss = trainer._total_loss_scalar / max(num_steps_trained, 0.001)
    metrics: dict[str, float] = speed_metrics(
        "train",
        start_time,
        num_samples=num_train_samples * num_steps_trained / max(state.max_steps, 1),
        num_steps=num_steps_trained,
    )
    trainer.store_flos()
    metrics["total_flos"] = state.total_flos
    metrics["train_loss"] = train_loss
    trainer._memory_tracker.stop_and_update_metrics(metrics, stage="train")
    trainer.log(metrics)

    if trainer.args.load_best_model_at_end and state.best_model_checkpoint is not None:
        trainer._load_best_model()
    trainer._delete_non_best_checkpoints(trial)

    trainer.control = trainer.callback_handler.on_train_end(trainer.args, state, trainer.control)
    if (
        trainer.neftune_noise_alpha is not None
        and getattr(trainer, "neftune_hook_handle", None) is not None
    ):
        from trainer_loop.neftune import deactivate_neftune

        deactivate_neftune(trainer.model, trainer.neftune_hook_handle, trainer.accelerator)
        trainer.neftune_hook_handle = None
    trainer.is_in_train = False
    return TrainOutput(state.global_step, train_loss, metrics)
