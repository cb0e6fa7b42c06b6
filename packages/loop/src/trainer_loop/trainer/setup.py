"""Construction: the model, the accelerator, the callbacks and the checks of `Trainer.__init__`."""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainer_loop import losses
from trainer_loop.data import collators
from trainer_loop.data.loaders import has_length
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["SetupMixin"]


def _number_of_arguments(func: Callable[..., Any]) -> int:
    if isinstance(func, functools.partial):
        total = len(inspect.signature(func.func).parameters)
        return total - len(func.args) - len(func.keywords)
    return len(inspect.signature(func).parameters)


def check_optimizers_tuple(optimizers: Any) -> None:
    """`optimizers` is `(optimizer or None, scheduler or None)`; clear errors otherwise."""
    if not isinstance(optimizers, (tuple, list)) or len(optimizers) != 2:
        raise ValueError(
            "`optimizers` must be a tuple `(optimizer, lr_scheduler)` (either may be None), got "
            f"{type(optimizers).__name__}: {optimizers!r}."
        )
    optimizer, scheduler = optimizers
    if optimizer is not None and not hasattr(optimizer, "step"):
        raise TypeError(
            f"`optimizers[0]` must be a torch.optim.Optimizer (or None), got {type(optimizer).__name__}."
        )
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(
            f"`optimizers[1]` must be a learning-rate scheduler (or None), got {type(scheduler).__name__}."
        )


class SetupMixin(TrainerAttributes):
    """What `Trainer.__init__` calls, in that order: seed, accelerator, model, callbacks, checks."""

    def _seed(self: Trainer) -> None:
        from trainer_dist.seeding import enable_full_determinism, set_seed

        if self.args.full_determinism:
            enable_full_determinism(self.args.seed)
        else:
            set_seed(self.args.seed)

    def create_accelerator_and_postprocess(self: Trainer) -> None:
        """Build the `accelerate.Accelerator` (through trainer_dist) and read its flags."""
        from trainer_dist.accelerator import build_accelerator
        from trainer_dist.collectives import make_gather_function

        self.accelerator = build_accelerator(self.args, model=self.model)
        self.gather_function = make_gather_function(
            self.accelerator, self.args.eval_use_gather_object
        )
        state = self.accelerator.state
        self.is_deepspeed_enabled = getattr(state, "deepspeed_plugin", None) is not None
        self.is_fsdp_enabled = getattr(state, "fsdp_plugin", None) is not None

    def _resolve_model(
        self: Trainer, model: nn.Module | None, model_init: Callable[..., nn.Module] | None
    ) -> nn.Module:
        if model is None:
            if model_init is None:
                raise RuntimeError("`Trainer` requires either a `model` or `model_init` argument")
            self.model_init = model_init
            model = self.call_model_init()
        else:
            if model_init is not None:
                raise ValueError(
                    "`Trainer` requires either a `model` or `model_init` argument, but not both."
                )
            self.model_init = None
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"`model` must be a torch.nn.Module, got {type(model).__name__}. Pass the model object itself "
                "(or a `model_init` function returning one)."
            )
        return model

    def call_model_init(self: Trainer, trial: Any = None) -> nn.Module:
        """Build a model with `model_init()` (or `model_init(trial)`)."""
        assert self.model_init is not None
        argcount = _number_of_arguments(self.model_init)
        if argcount == 0:
            model = self.model_init()
        elif argcount == 1:
            model = self.model_init(trial)
        else:
            raise RuntimeError("model_init should have 0 or 1 argument.")
        if model is None:
            raise RuntimeError("model_init should not return None.")
        return model

    def _detect_model_parallel(self: Trainer, model: nn.Module) -> bool:
        device_map = getattr(model, "hf_device_map", None)
        if device_map is None:
            return False
        devices = [d for d in set(device_map.values()) if d not in ("cpu", "disk")]
        if len(devices) > 1:
            return True
        return len(devices) == 1 and self.args.device != torch.device(devices[0])

    def _should_place_model_on_device(self: Trainer) -> bool:
        args = self.args
        if args.place_model_on_device is not None:
            return bool(args.place_model_on_device)
        return not (
            self.is_model_parallel
            or self.is_deepspeed_enabled
            or args.fp16_full_eval
            or args.bf16_full_eval
            or self.is_fsdp_enabled
        )

    def _move_model_to_device(self: Trainer, model: nn.Module, device: torch.device) -> None:
        if getattr(model, "hf_device_map", None) is not None:
            logger.warning(
                "The model is already on multiple devices. Skipping the move to device specified in `args`."
            )
            return
        model.to(device)

    def _wrap_model(
        self: Trainer, model: nn.Module, training: bool = True, dataloader: Any = None
    ) -> nn.Module:
        if self.accelerator.unwrap_model(model, keep_torch_compile=False) is not model:
            return model  # already wrapped by an earlier train/evaluate
        if self.args.n_gpu > 1 and not getattr(model, "is_loaded_in_8bit", False):
            model = nn.DataParallel(model)
        return model

    def _introspect_model(self: Trainer, model: nn.Module) -> None:
        """What the loss and prediction code needs to know about the model, read once."""
        unwrapped = losses.unwrap_peft(self.accelerator.unwrap_model(model))
        self.model_accepts_loss_kwargs = losses.accepts_loss_kwargs(unwrapped)
        inspected = losses.unwrap_peft(model)
        args_labels = self.args.label_names
        self.label_names = (
            losses.find_labels(type(inspected)) if args_labels is None else list(args_labels)
        )
        self.can_return_loss = losses.can_return_loss(type(inspected))
        self._loss_shifts_labels = losses.loss_shifts_labels(inspected)
        self.label_smoother = None
        if self.args.label_smoothing_factor != 0:
            config = getattr(model, "config", None)
            if getattr(config, "problem_type", None) == "multi_label_classification":
                import warnings

                warnings.warn(
                    "Label smoothing is not compatible with multi-label classification. "
                    "Disabling label smoothing for this training run.",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                self.label_smoother = losses.LabelSmoother(epsilon=self.args.label_smoothing_factor)

    @staticmethod
    def _default_collator(processing_class: Any) -> Callable[[list[Any]], Any]:
        # A tokenizer (it can pad) gets transformers' DataCollatorWithPadding behaviour through its `pad`.
        if collators.pads_itself(processing_class):
            return collators.PaddingCollator(processing_class)
        return collators.default_data_collator

    # ---- callbacks --------------------------------------------------------------------------

    def _init_callbacks(self: Trainer, callbacks: list[Any] | None) -> None:
        from trainer_loop.callbacks.flow import DefaultFlowCallback
        from trainer_loop.callbacks.handler import CallbackHandler
        from trainer_loop.callbacks.progress import PrinterCallback, ProgressCallback

        defaults: list[Any] = [DefaultFlowCallback, *self._reporting_callbacks()]
        if getattr(self.args, "enable_jit_checkpoint", False):
            # Saves a checkpoint and stops cleanly when the job gets SIGTERM (preemption).
            from trainer_loop.callbacks.preemption import PreemptionCallback

            defaults.append(PreemptionCallback())
        all_callbacks = defaults if callbacks is None else defaults + list(callbacks)
        self.callback_handler = CallbackHandler(
            all_callbacks, self.model, self.processing_class, self.optimizer, self.lr_scheduler
        )
        self.add_callback(PrinterCallback if self.args.disable_tqdm else ProgressCallback)

    def _reporting_callbacks(self: Trainer) -> list[Any]:
        report_to = [r for r in (self.args.report_to or []) if r not in ("none", None)]
        if not report_to:
            return []
        from trainer_loop.reporting import get_reporting_integration_callbacks

        return list(get_reporting_integration_callbacks(report_to))

    def _exportable_callbacks(self: Trainer) -> list[Any]:
        from trainer_loop.state import ExportableState

        return [
            cb
            for cb in [*self.callback_handler.callbacks, self.control]
            if isinstance(cb, ExportableState)
        ]

    def add_callback(self: Trainer, callback: Any) -> None:
        """Add a callback (class or instance)."""
        self.callback_handler.add_callback(callback)

    def pop_callback(self: Trainer, callback: Any) -> Any:
        """Remove and return a callback (class or instance); None if absent."""
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self: Trainer, callback: Any) -> None:
        """Remove a callback (class or instance)."""
        self.callback_handler.remove_callback(callback)

    # ---- checks -----------------------------------------------------------------------------

    def _validate_args(self: Trainer) -> None:
        """transformers' construction checks on the arguments against what was passed."""
        args = self.args
        if (
            args.batch_eval_metrics
            and self.compute_metrics is not None
            and "compute_result" not in inspect.signature(self.compute_metrics).parameters
        ):
            raise ValueError(
                "When using `batch_eval_metrics`, your `compute_metrics` function must take a `compute_result`"
                " boolean argument which will be triggered after the last batch of the eval set to signal that"
                " the summary statistics should be returned by the function."
            )
        if (
            args.eval_strategy is not None
            and args.eval_strategy != "no"
            and self.eval_dataset is None
        ):
            raise ValueError(
                f"You have set `args.eval_strategy` to {args.eval_strategy} but you didn't pass an `eval_dataset` to "
                "`Trainer`. Either set `args.eval_strategy` to `no` or pass an `eval_dataset`. "
            )
        if (
            args.save_strategy == "best" or args.load_best_model_at_end
        ) and args.metric_for_best_model is None:
            raise ValueError(
                "`args.metric_for_best_model` must be provided when using 'best' save_strategy or if "
                "`args.load_best_model_at_end` is set to `True`."
            )
        self._validate_optimizer_arguments()
        if not callable(self.data_collator):
            if callable(getattr(self.data_collator, "collate_batch", None)):
                raise TypeError(
                    "The `data_collator` should be a simple callable (function, class with `__call__`)."
                )
            raise TypeError(
                f"The `data_collator` must be callable, got {type(self.data_collator).__name__}."
            )
        if args.max_steps > 0 and args.num_train_epochs > 0:
            logger.info("max_steps is given, it will override any value given in num_train_epochs")
        if (
            self.train_dataset is not None
            and not has_length(self.train_dataset)
            and args.max_steps <= 0
        ):
            raise ValueError(
                "The train_dataset does not implement __len__, so the number of training steps cannot be inferred; "
                "max_steps has to be specified. The total number of steps must be known in advance to bound the "
                "training loop and to configure the learning rate scheduler."
            )

    def _validate_optimizer_arguments(self: Trainer) -> None:
        if self.optimizer_cls_and_kwargs is not None and self.optimizer is not None:
            raise RuntimeError(
                "Passing both `optimizers` and `optimizer_cls_and_kwargs` arguments is incompatible."
            )
        if self.model_init is not None and (
            self.optimizer is not None or self.lr_scheduler is not None
        ):
            raise RuntimeError(
                "Passing a `model_init` is incompatible with providing the `optimizers` argument. "
                "You should subclass `Trainer` and override the `create_optimizer_and_scheduler` method."
            )
        if self.is_fsdp_enabled and (self.optimizer is not None or self.lr_scheduler is not None):
            raise RuntimeError(
                "Passing `optimizers` is not allowed if PyTorch FSDP is enabled. "
                "You should subclass `Trainer` and override the `create_optimizer_and_scheduler` method."
            )

    # ---- processes --------------------------------------------------------------------------

    def is_local_process_zero(self: Trainer) -> bool:
        return bool(self.args.local_process_index == 0)

    def is_world_process_zero(self: Trainer) -> bool:
        return bool(self.args.process_index == 0)

    def end(self: Trainer) -> None:
        """Finish trackers and destroy the process group (call once, at the very end)."""
        self.accelerator.end_training()

    def _make_output_dir(self: Trainer) -> None:
        if self.args.should_save:
            os.makedirs(self.args.output_dir, exist_ok=True)
