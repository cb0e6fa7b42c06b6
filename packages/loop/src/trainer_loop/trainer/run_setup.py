"""Setting up a training run: `train()`'s preamble, the run's sizes, its state, and preparation.

In call order: `train` (model_init, kernels, activation checkpointing, NEFTune, the checkpoint
to resume), `set_initial_training_values` (epochs, steps, batch sizes),
`_init_training_state` (a fresh `TrainerState` or the checkpoint's), and
`_prepare_for_training` (optimizer, accelerate, scheduler, the checkpoint's optimizer state).
"""

from __future__ import annotations

import logging
import math
import sys
import warnings
from typing import TYPE_CHECKING, Any

import torch

from trainer_loop.data.loaders import has_length
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["RunSetupMixin"]


def enable_activation_checkpointing(model: Any, args: Any) -> None:
    """`activation_checkpointing=True`: the model's own switch, with `activation_checkpointing_kwargs`."""
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


def apply_liger_kernel(model: Any, args: Any) -> None:
    """`use_liger_kernel=True`: patch the model with Liger kernels (or say what to install)."""
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError as exc:
        raise ImportError(
            "`use_liger_kernel=True` needs the liger-kernel package (`pip install liger-kernel`), which is not "
            "installed. Install it or set `use_liger_kernel=False`."
        ) from exc
    _apply_liger_kernel_to_instance(model=model, **(args.liger_kernel_config or {}))


def run_sizes(
    args: Any, len_dataloader: int | None, total_train_batch_size: int, num_examples: Any
) -> tuple[int, int, int, float, int, int]:
    """`(num_train_epochs, num_update_steps_per_epoch, num_examples, num_train_samples,
    steps_in_epoch, max_steps)` exactly as transformers computes them.

    `num_examples` is called for a sized dataloader only (it may walk the dataset).
    """
    max_steps = args.max_steps
    ga = args.gradient_accumulation_steps
    num_update_steps_per_epoch = 0
    if len_dataloader is not None:
        num_update_steps_per_epoch = max(len_dataloader // ga + int(len_dataloader % ga > 0), 1)
        if max_steps < 0:
            max_steps = math.ceil(args.num_train_epochs * num_update_steps_per_epoch)
    if len_dataloader:
        examples = num_examples()
        if args.max_steps > 0:
            num_train_epochs = max_steps // num_update_steps_per_epoch + int(
                max_steps % num_update_steps_per_epoch > 0
            )
            num_train_samples: float = max_steps * total_train_batch_size
        else:
            num_train_epochs = math.ceil(args.num_train_epochs)
            num_train_samples = examples * args.num_train_epochs
    elif args.max_steps > 0:
        # Unsized data: loop over the iterator as many times as max_steps needs.
        num_train_epochs = sys.maxsize
        num_update_steps_per_epoch = max_steps
        examples = total_train_batch_size * args.max_steps
        num_train_samples = args.max_steps * total_train_batch_size
    else:
        raise ValueError(
            f"args.max_steps must be set to a positive value if dataloader does not have a length, was {args.max_steps}"
        )
    steps_in_epoch = len_dataloader if len_dataloader is not None else max_steps * ga
    return (
        num_train_epochs,
        num_update_steps_per_epoch,
        examples,
        num_train_samples,
        steps_in_epoch,
        max_steps,
    )


class RunSetupMixin(TrainerAttributes):
    """`train()` and what sets a run up before its first step."""

    def train(
        self: Trainer,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> Any:
        """Run training; returns `TrainOutput(global_step, training_loss, metrics)`.

        `resume_from_checkpoint`: a checkpoint folder, or True for the last one in
        `output_dir`. `trial`: a hyperparameter-search trial (or a dict of values).
        """
        if self.train_dataset is None:
            raise ValueError(
                "Trainer: training requires a train_dataset. Pass `train_dataset=` to the Trainer (or set "
                "`trainer.train_dataset`) before calling train()."
            )
        args = self.args
        self._memory_tracker.start(stage="train")
        self.is_in_train = True
        self._flops_cache = (
            None  # the model may have changed since the last run (resized embeddings)
        )
        # Before model_init (transformers sets a trial's values after it): a trial's seed then also
        # seeds its model, so re-running the best trial reproduces its objective (see hpsearch.py).
        self._hp_search_setup(trial)
        if self.model_init is not None:
            self._seed()  # before building the model, so that its initial weights are reproducible
            self.model = self.call_model_init(trial)
            self.optimizer, self.lr_scheduler = None, None
            if self.place_model_on_device:
                self._move_model_to_device(self.model, args.device)
            self.model_wrapped = self.model
            self._flops_cache = None
        self._prepare_model_for_run()

        resume = self._resolve_resume(resume_from_checkpoint)
        if resume is not None:
            if not self.is_deepspeed_enabled and not self.is_fsdp_enabled:
                self._load_from_checkpoint(resume)
            if args.auto_find_batch_size:
                from trainer_loop.checkpoints import load_trainer_state

                saved = load_trainer_state(resume)
                if saved is not None and saved.train_batch_size is not None:
                    self._train_batch_size = saved.train_batch_size

        loop_kwargs = {"args": args, "resume_from_checkpoint": resume, "trial": trial,
                       "ignore_keys_for_eval": ignore_keys_for_eval}  # fmt: skip
        if args.auto_find_batch_size:
            from trainer_dist.batch_size import find_executable_batch_size

            inner = find_executable_batch_size(
                self._inner_training_loop,
                starting_batch_size=self._train_batch_size,
                auto_find_batch_size=True,
            )
            return inner(**loop_kwargs)
        return self._inner_training_loop(batch_size=self._train_batch_size, **loop_kwargs)

    def _prepare_model_for_run(self: Trainer) -> None:
        """What the arguments switch on in the model itself before it trains."""
        args, model = self.args, self.model
        if args.use_liger_kernel:
            apply_liger_kernel(model, args)
        if "underflow_overflow" in [str(getattr(d, "value", d)) for d in (args.debug or [])]:
            logger.warning(
                "`debug='underflow_overflow'` is not supported by this Trainer; training runs without it."
            )
        if (
            (args.fp16_full_eval or args.bf16_full_eval)
            and not self.is_model_parallel
            and self.model_init is None
        ):
            self._move_model_to_device(model, args.device)
        if args.activation_checkpointing:
            enable_activation_checkpointing(model, args)
        if self.processing_class is not None and hasattr(model, "config"):
            from trainer_loop.special_tokens import align_special_tokens

            align_special_tokens(model, self.processing_class)
        if self.neftune_noise_alpha is not None:
            from trainer_loop.neftune import activate_neftune

            self.neftune_hook_handle = activate_neftune(
                model, self.neftune_noise_alpha, self.accelerator
            )

    def _resolve_resume(self: Trainer, resume_from_checkpoint: str | bool | None) -> str | None:
        if resume_from_checkpoint is False or resume_from_checkpoint is None:
            return None
        if resume_from_checkpoint is True:
            path = self._get_last_checkpoint(self.args.output_dir)
            if path is None:
                raise ValueError(
                    f"No valid checkpoint found in output directory ({self.args.output_dir})"
                )
            return path
        return str(resume_from_checkpoint)

    def _update_auto_batch_size(self: Trainer, batch_size: int) -> None:
        """The batch size `auto_find_batch_size` settled on, for this and later runs."""
        self._train_batch_size = batch_size
        self.model_wrapped = self.model

    def set_initial_training_values(
        self: Trainer, args: Any, dataloader: Any
    ) -> tuple[int, int, int, float, int, int, int]:
        """`(num_train_epochs, num_update_steps_per_epoch, num_examples, num_train_samples,
        total_train_batch_size, steps_in_epoch, max_steps)` exactly as transformers computes them."""
        total_train_batch_size = self.get_total_train_batch_size(args)
        len_dataloader = len(dataloader) if has_length(dataloader) else None
        epochs, updates, examples, samples, steps_in_epoch, max_steps = run_sizes(
            args, len_dataloader, total_train_batch_size, lambda: self.num_examples(dataloader)
        )
        return epochs, updates, examples, samples, total_train_batch_size, steps_in_epoch, max_steps

    def get_total_train_batch_size(self: Trainer, args: Any) -> int:
        dp_world_size = (
            args.world_size // self.get_tp_size() // self.get_cp_size() // self.get_sp_size()
        )
        return int(self._train_batch_size * args.gradient_accumulation_steps * dp_world_size)

    def get_tp_size(self: Trainer) -> int:
        if (model_tp := getattr(self.model, "_tp_size", None)) is not None:
            return int(model_tp)
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.tp_size) if pc is not None else 1

    def get_cp_size(self: Trainer) -> int:
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.cp_size) if pc is not None else 1

    def get_sp_size(self: Trainer) -> int:
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.sp_size) if pc is not None else 1

    def _init_training_state(
        self: Trainer,
        max_steps: int,
        num_update_steps_per_epoch: int,
        num_train_epochs: int,
        resume_from_checkpoint: str | None,
        trial: Any,
    ) -> tuple[int, int]:
        """A fresh `TrainerState` (or the checkpoint's); returns `(epochs_trained, steps_trained_in_current_epoch)`."""
        from trainer_loop.checkpoints import load_trainer_state, report_changed_arguments
        from trainer_loop.state import TrainerState

        self.state = TrainerState(stateful_callbacks=self._exportable_callbacks())
        self.state.is_hyper_param_search = trial is not None
        self.state.train_batch_size = self._train_batch_size
        self.state.compute_steps(self.args, max_steps)

        epochs_trained = steps_trained_in_current_epoch = 0
        saved = (
            None if resume_from_checkpoint is None else load_trainer_state(resume_from_checkpoint)
        )
        if saved is not None:
            self.state = saved
            report_changed_arguments(self.args, saved)
            self._load_callback_state()
            epochs_trained = int(saved.global_step // num_update_steps_per_epoch)
            if not self.args.ignore_data_skip:
                steps_trained_in_current_epoch = saved.global_step % num_update_steps_per_epoch
                steps_trained_in_current_epoch *= self.args.gradient_accumulation_steps

        self.state.init_training_references(self, max_steps, num_train_epochs, trial)
        return epochs_trained, steps_trained_in_current_epoch

    def _prepare_for_training(
        self: Trainer, max_steps: int, train_dataloader: Any, resume_from_checkpoint: str | None
    ) -> tuple[torch.nn.Module, Any]:
        """Create the optimizer, prepare model and optimizer with accelerate, create the scheduler, resume."""
        if self._created_lr_scheduler:
            # A scheduler the Trainer built is rebuilt for the new run's length.
            self.lr_scheduler = None
            self._created_lr_scheduler = False

        fsdp_plugin = getattr(self.accelerator.state, "fsdp_plugin", None)
        delay_optimizer_creation = (
            self.is_fsdp_enabled and getattr(fsdp_plugin, "fsdp_version", 1) != 2
        )
        if not delay_optimizer_creation:
            self.create_optimizer()

        model = self._wrap_model(self.model_wrapped)
        accelerator = self.accelerator
        if model is self.model:
            if delay_optimizer_creation:
                model = accelerator.prepare(self.model)
                self.create_optimizer(model)
                self.optimizer = accelerator.prepare(self.optimizer)
            else:
                model, self.optimizer = accelerator.prepare(self.model, self.optimizer)
        else:
            self.optimizer = accelerator.prepare(self.optimizer)

        self.create_scheduler(num_training_steps=max_steps)
        self.model_wrapped = model
        if self.is_fsdp_enabled:
            self.model = self.model_wrapped = model

        if resume_from_checkpoint is not None:
            if self.is_fsdp_enabled:
                self._load_from_checkpoint(resume_from_checkpoint, self.model_wrapped)
            self._load_optimizer_and_scheduler(resume_from_checkpoint)

        handler = self.callback_handler
        handler.model = self.model
        handler.optimizer = self.optimizer
        handler.lr_scheduler = self.lr_scheduler
        handler.train_dataloader = train_dataloader
        return model, train_dataloader
