"""`Trainer`: the facade users call and subclass, with `transformers.Trainer`'s public methods.

Every method transformers users override (`compute_loss`, `training_step`, `prediction_step`,
`create_optimizer`, `log`, `evaluate`, `_save_checkpoint`, ...) exists and is called through
`self.` at the same points; the work itself lives in `training.py`, `evaluation.py`,
`losses.py`, `data.py` and the checkpoint modules.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from trainer_loop import data as data_mod
from trainer_loop import evaluation, losses, training
from trainer_loop.metrics import format_metrics_lines, save_metrics_json, speed_metrics
from trainer_loop.step_plan import StepPlan

if TYPE_CHECKING:
    from trainer_loop.state import TrainerControl, TrainerState

logger = logging.getLogger(__name__)

__all__ = ["Trainer"]

DEFAULT_OUTPUT_DIR = "tmp_trainer"


def _number_of_arguments(func: Callable[..., Any]) -> int:
    import functools

    if isinstance(func, functools.partial):
        total = len(inspect.signature(func.func).parameters)
        return total - len(func.args) - len(func.keywords)
    return len(inspect.signature(func).parameters)


class Trainer:
    """Train, evaluate and predict with a PyTorch model, as `transformers.Trainer` does."""

    # Subclasses set this to say whether `compute_loss` already normalises for gradient accumulation.
    loss_is_scaled_for_ga: bool | None = None

    # Set during construction and training; models are duck-typed (any nn.Module, PEFT, compiled...).
    model: Any
    model_wrapped: Any
    state: TrainerState
    control: TrainerControl
    model_preparation_time: float
    _tr_loss: torch.Tensor
    _losses: training.LossAccumulator
    _total_loss_scalar: float
    _globalstep_last_logged: int
    _initial_global_step: int
    _initial_num_input_tokens_seen: int

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
            from trainer_args import TrainingArguments

            logger.info(f"No `TrainingArguments` passed, using `output_dir={DEFAULT_OUTPUT_DIR}`.")
            args = TrainingArguments(output_dir=DEFAULT_OUTPUT_DIR)
        self.args = args
        self._seed()

        self.deepspeed = None
        self.model = model
        self.create_accelerator_and_postprocess()

        from trainer_dist.memory import MemoryTracker

        self._memory_tracker = MemoryTracker(args.skip_memory_metrics)
        self._memory_tracker.start(stage="init")
        from trainer_loop.verbosity import apply_log_level

        apply_log_level(args)
        _ = args.device  # set up devices (and the distributed state) now, as transformers does

        model = self._resolve_model(model, model_init)
        self._check_optimizers_tuple(optimizers)
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
        if args.should_save:
            os.makedirs(args.output_dir, exist_ok=True)
        self._init_bookkeeping()
        self.control = self.callback_handler.on_init_end(args, self.state, self.control)

        if getattr(self.model, "config", None) is not None:
            self.model.config.use_cache = args.use_cache
        self._memory_tracker.stop_and_update_metrics(stage="init")

    # ---- construction helpers ---------------------------------------------------------------

    def _seed(self) -> None:
        from trainer_dist.seeding import enable_full_determinism, set_seed

        if self.args.full_determinism:
            enable_full_determinism(self.args.seed)
        else:
            set_seed(self.args.seed)

    def _resolve_model(
        self, model: nn.Module | None, model_init: Callable[..., nn.Module] | None
    ) -> nn.Module:
        if model is None:
            if model_init is None:
                raise RuntimeError("`Trainer` requires either a `model` or `model_init` argument")
            self.model_init: Callable[..., nn.Module] | None = model_init
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

    @staticmethod
    def _check_optimizers_tuple(optimizers: Any) -> None:
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

    def _detect_model_parallel(self, model: nn.Module) -> bool:
        device_map = getattr(model, "hf_device_map", None)
        if device_map is None:
            return False
        devices = [d for d in set(device_map.values()) if d not in ("cpu", "disk")]
        if len(devices) > 1:
            return True
        return len(devices) == 1 and self.args.device != torch.device(devices[0])

    def _should_place_model_on_device(self) -> bool:
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

    def _introspect_model(self, model: nn.Module) -> None:
        unwrapped = losses.unwrap_peft(self.accelerator.unwrap_model(model))
        self.model_accepts_loss_kwargs = losses.accepts_loss_kwargs(unwrapped)
        inspected = losses.unwrap_peft(model)
        args_labels = self.args.label_names
        self.label_names = (
            losses.find_labels(type(inspected)) if args_labels is None else list(args_labels)
        )
        self.can_return_loss = losses.can_return_loss(type(inspected))
        self._loss_shifts_labels = losses.loss_shifts_labels(inspected)
        self.label_smoother: losses.LabelSmoother | None = None
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
        if _pads_itself(processing_class):
            return _PaddingCollator(processing_class)
        return data_mod.default_data_collator

    def _init_callbacks(self, callbacks: list[Any] | None) -> None:
        from trainer_loop.callbacks.base import CallbackHandler
        from trainer_loop.callbacks.flow import DefaultFlowCallback
        from trainer_loop.callbacks.progress import PrinterCallback, ProgressCallback

        defaults: list[Any] = [DefaultFlowCallback, *self._reporting_callbacks()]
        if getattr(self.args, "enable_jit_checkpoint", False):
            # Saves a checkpoint and stops cleanly when the job gets SIGTERM (preemption).
            from trainer_loop.checkpoints.preemption import PreemptionCallback

            defaults.append(PreemptionCallback())
        all_callbacks = defaults if callbacks is None else defaults + list(callbacks)
        self.callback_handler = CallbackHandler(
            all_callbacks, self.model, self.processing_class, self.optimizer, self.lr_scheduler
        )
        self.add_callback(PrinterCallback if self.args.disable_tqdm else ProgressCallback)

    def _reporting_callbacks(self) -> list[Any]:
        report_to = [r for r in (self.args.report_to or []) if r not in ("none", None)]
        if not report_to:
            return []
        from trainer_loop.reporting import get_reporting_integration_callbacks

        return list(get_reporting_integration_callbacks(report_to))

    def _exportable_callbacks(self) -> list[Any]:
        from trainer_loop.state import ExportableState

        return [
            cb
            for cb in [*self.callback_handler.callbacks, self.control]
            if isinstance(cb, ExportableState)
        ]

    def _init_bookkeeping(self) -> None:
        from trainer_loop.state import TrainerControl, TrainerState

        self.control = TrainerControl()
        self.state = TrainerState(
            is_local_process_zero=self.is_local_process_zero(),
            is_world_process_zero=self.is_world_process_zero(),
            stateful_callbacks=self._exportable_callbacks(),
        )
        self.is_in_train = False
        self.hp_name: Callable[[Any], str] | None = None
        self.hp_search_backend: Any = None
        self._trial: Any = None
        self.current_flos: float = 0
        self._signature_columns: list[str] | None = None
        self._train_batch_size = self.args.train_batch_size
        self._created_lr_scheduler = False
        self._flops_cache: tuple[Any, str, int | None] | None = None
        self._parameters_cache: tuple[nn.Module, list[nn.Parameter]] | None = None
        self._plan: StepPlan | None = None
        self.current_gradient_accumulation_steps = self.args.gradient_accumulation_steps
        self.neftune_hook_handle: Any = None
        # Throughput of training logs (`throughput_logging`): the run's counter, and the keys
        # the next `log` adds to its `on_log` payload.
        self._throughput: Any = None
        self._log_extras: dict[str, float] | None = None

    def _validate_args(self) -> None:
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
            and not data_mod.has_length(self.train_dataset)
            and args.max_steps <= 0
        ):
            raise ValueError(
                "The train_dataset does not implement __len__, so the number of training steps cannot be inferred; "
                "max_steps has to be specified. The total number of steps must be known in advance to bound the "
                "training loop and to configure the learning rate scheduler."
            )

    def create_accelerator_and_postprocess(self) -> None:
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

    def _move_model_to_device(self, model: nn.Module, device: torch.device) -> None:
        if getattr(model, "hf_device_map", None) is not None:
            logger.warning(
                "The model is already on multiple devices. Skipping the move to device specified in `args`."
            )
            return
        model.to(device)

    def call_model_init(self, trial: Any = None) -> nn.Module:
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

    # ---- data ---------------------------------------------------------------------------------

    def get_train_dataloader(self) -> DataLoader[Any]:
        """The training DataLoader (sampler per `train_sampling_strategy`), prepared by accelerate."""
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        return self._get_dataloader(
            self.train_dataset,
            "Training",
            self._train_batch_size,
            self._get_train_sampler,
            is_training=True,
        )

    def get_eval_dataloader(self, eval_dataset: Any = None) -> DataLoader[Any]:
        """The evaluation DataLoader; a str selects `self.eval_dataset[name]`."""
        if eval_dataset is None and self.eval_dataset is None:
            raise ValueError("Trainer: evaluation requires an eval_dataset.")
        key = eval_dataset if isinstance(eval_dataset, str) else "eval"
        cache = getattr(self, "_eval_dataloaders", None)
        if cache is not None and key in cache and self.args.dataloader_persistent_workers:
            return cache[key]  # type: ignore[no-any-return]
        if isinstance(eval_dataset, str):
            dataset = self.eval_dataset[eval_dataset]
        else:
            dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        return self._get_dataloader(
            dataset,
            "Evaluation",
            self.args.eval_batch_size,
            self._get_eval_sampler,
            dataloader_key=key,
        )

    def get_test_dataloader(self, test_dataset: Any) -> DataLoader[Any]:
        """The prediction DataLoader."""
        return self._get_dataloader(
            test_dataset, "test", self.args.eval_batch_size, self._get_eval_sampler
        )

    def _get_dataloader(
        self,
        dataset: Any,
        description: str,
        batch_size: int,
        sampler_fn: Callable[[Any], Any] | None = None,
        is_training: bool = False,
        dataloader_key: str | None = None,
    ) -> DataLoader[Any]:
        collator = self.data_collator
        if data_mod.is_datasets_dataset(dataset):
            dataset = self._remove_unused_columns(dataset, description=description)
        else:
            collator = self._get_collator_with_removed_columns(collator, description=description)
        sampler = None
        if not isinstance(dataset, IterableDataset) and sampler_fn is not None:
            sampler = sampler_fn(dataset)
        worker_init_fn = None
        if is_training:
            import functools

            from trainer_dist.seeding import seed_worker

            worker_init_fn = functools.partial(
                seed_worker,
                num_workers=self.args.dataloader_num_workers,
                rank=self.args.process_index,
            )
        loader = data_mod.build_dataloader(
            self.accelerator,
            self.args,
            dataset,
            batch_size,
            collator,
            sampler,
            is_training,
            worker_init_fn,
        )
        if dataloader_key is not None and self.args.dataloader_persistent_workers:
            if not hasattr(self, "_eval_dataloaders"):
                self._eval_dataloaders: dict[str, DataLoader[Any]] = {}
            self._eval_dataloaders[dataloader_key] = loader
        return loader

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        return data_mod.train_sampler(self.args, dataset, self.processing_class)

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        return data_mod.eval_sampler(self.args, eval_dataset, self.processing_class)

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            self._signature_columns = data_mod.signature_columns(self.model, self.label_names)

    def _remove_unused_columns(self, dataset: Any, description: str | None = None) -> Any:
        if not self.args.remove_unused_columns:
            return dataset
        self._set_signature_columns_if_needed()
        assert self._signature_columns is not None
        return data_mod.remove_unused_columns(
            dataset, self._signature_columns, description, type(self.model).__name__
        )

    def _get_collator_with_removed_columns(
        self, data_collator: Callable[[list[Any]], Any], description: str | None = None
    ) -> Callable[[list[Any]], Any]:
        if not self.args.remove_unused_columns:
            return data_collator
        self._set_signature_columns_if_needed()
        assert self._signature_columns is not None
        return data_mod.RemoveColumnsCollator(
            data_collator, self._signature_columns, logger, type(self.model).__name__, description
        )

    def num_examples(self, dataloader: DataLoader[Any]) -> int:
        """Examples in the dataloader's dataset; estimated from its length when unsized."""
        try:
            dataset = dataloader.dataset
            inner = getattr(dataset, "dataset", None)
            if type(dataset).__name__ == "IterableDatasetShard" and inner is not None:
                return len(inner)
            return len(dataset)  # type: ignore[arg-type]
        except (NameError, AttributeError, TypeError):
            return len(dataloader) * self.args.per_device_train_batch_size

    def _prepare_input(self, data: Any) -> Any:
        return data_mod.prepare_input(data, self.args.device, self._non_blocking)

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        inputs = self._prepare_input(inputs)
        if len(inputs) == 0:
            columns = ",".join(self._signature_columns or [])
            raise ValueError(
                "The batch received was empty, your model won't be able to train on it. Double-check that your "
                f"training dataset contains keys expected by the model: {columns}."
            )
        return inputs

    @property
    def _non_blocking(self) -> bool:
        # Pinned memory makes host-to-device copies asynchronous; CPU tensors need no copy at all.
        return bool(self.args.dataloader_pin_memory) and self.args.device.type != "cpu"

    # ---- optimizer and scheduler --------------------------------------------------------------

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        """`create_optimizer()` then `create_scheduler(num_training_steps)`."""
        self.create_optimizer()
        self.create_scheduler(num_training_steps=num_training_steps)

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The optimizer: decay / no-decay parameter groups, class and kwargs from args (or given)."""
        opt_model = self.model if model is None else model
        if self.optimizer is None:
            from trainer_loop.optimizers import create_optimizer

            # Through `self.` so that subclasses overriding these two keep working.
            self.optimizer = create_optimizer(
                opt_model,
                self.args,
                self.optimizer_cls_and_kwargs,
                decay_parameter_names=self.get_decay_parameter_names,
                optimizer_cls_and_kwargs_for=self.get_optimizer_cls_and_kwargs,
            )
        return self.optimizer  # type: ignore[return-value]

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> Any:
        """The LR scheduler from `lr_scheduler_type`, rebuilt on each `train()` when the Trainer made it."""
        if self.lr_scheduler is None:
            from trainer_loop.schedulers import get_scheduler

            self.lr_scheduler = get_scheduler(
                self.args.lr_scheduler_type,
                optimizer=self.optimizer if optimizer is None else optimizer,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                num_training_steps=num_training_steps,
                scheduler_specific_kwargs=self.args.lr_scheduler_kwargs,
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: Any, model: nn.Module | None = None) -> tuple[Any, Any]:
        """The optimizer class and kwargs for `args.optim` (ValueError for unknown names)."""
        from trainer_loop.optimizers import get_optimizer_cls_and_kwargs

        return get_optimizer_cls_and_kwargs(args, model)

    def get_decay_parameter_names(self, model: nn.Module) -> list[str]:
        """Parameters that get weight decay: not biases, not in LayerNorm, not *norm* names."""
        from trainer_loop.optimizers import get_decay_parameter_names

        return list(get_decay_parameter_names(model))

    def _get_learning_rate(self) -> float:
        if training._is_plateau(self.lr_scheduler):
            last_lr = self.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
        else:
            last_lr = self.lr_scheduler.get_last_lr()[0]
        return float(last_lr.item()) if isinstance(last_lr, torch.Tensor) else last_lr  # type: ignore[no-any-return]

    def get_learning_rates(self) -> list[float]:
        if self.optimizer is None:
            raise ValueError(
                "Trainer optimizer is None, please make sure you have setup the optimizer before."
            )
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_optimizer_group(self, param: Any = None) -> Any:
        if self.optimizer is None:
            raise ValueError(
                "Trainer optimizer is None, please make sure you have setup the optimizer before."
            )
        if param is not None:
            for group in self.optimizer.param_groups:
                if param in group["params"]:
                    return group
        return [group["params"] for group in self.optimizer.param_groups]

    def get_num_trainable_parameters(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters() if p.requires_grad))

    # ---- training -----------------------------------------------------------------------------

    def train(
        self,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> Any:
        """Run training; returns `TrainOutput(global_step, training_loss, metrics)`."""
        if self.train_dataset is None:
            raise ValueError(
                "Trainer: training requires a train_dataset. Pass `train_dataset=` to the Trainer (or set "
                "`trainer.train_dataset`) before calling train()."
            )
        return training.run_train(self, resume_from_checkpoint, trial, ignore_keys_for_eval)

    def _inner_training_loop(
        self,
        batch_size: int | None = None,
        args: Any = None,
        resume_from_checkpoint: str | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
    ) -> Any:
        return training.inner_training_loop(
            self, batch_size, args, resume_from_checkpoint, trial, ignore_keys_for_eval
        )

    def set_initial_training_values(
        self, args: Any, dataloader: Any
    ) -> tuple[int, int, int, int, int, int, int]:
        return training.set_initial_training_values(self, args, dataloader)

    def get_total_train_batch_size(self, args: Any) -> int:
        dp_world_size = (
            args.world_size // self.get_tp_size() // self.get_cp_size() // self.get_sp_size()
        )
        return int(self._train_batch_size * args.gradient_accumulation_steps * dp_world_size)

    def get_tp_size(self) -> int:
        if (model_tp := getattr(self.model, "_tp_size", None)) is not None:
            return int(model_tp)
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.tp_size) if pc is not None else 1

    def get_cp_size(self) -> int:
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.cp_size) if pc is not None else 1

    def get_sp_size(self) -> int:
        pc = getattr(self.accelerator, "parallelism_config", None)
        return int(pc.sp_size) if pc is not None else 1

    def _init_training_state(
        self,
        max_steps: int,
        num_update_steps_per_epoch: int,
        num_train_epochs: int,
        resume: str | None,
        trial: Any,
    ) -> tuple[int, int]:
        return training.init_training_state(
            self, max_steps, num_update_steps_per_epoch, num_train_epochs, resume, trial
        )

    def _prepare_for_training(
        self, max_steps: int, train_dataloader: Any, resume: str | None
    ) -> tuple[Any, Any]:
        return training.prepare_for_training(self, max_steps, train_dataloader, resume)

    def _run_epoch(self, **kwargs: Any) -> None:
        training.run_epoch(self, **kwargs)

    def _wrap_model(
        self, model: nn.Module, training: bool = True, dataloader: Any = None
    ) -> nn.Module:
        if self.accelerator.unwrap_model(model, keep_torch_compile=False) is not model:
            return model  # already wrapped by an earlier train/evaluate
        if self.args.n_gpu > 1 and not getattr(model, "is_loaded_in_8bit", False):
            model = nn.DataParallel(model)
        return model

    def get_batch_samples(
        self, epoch_iterator: Iterator[Any], num_batches: int, device: torch.device
    ) -> Any:
        """Up to `num_batches` micro-batches and the number of label items over them."""
        return training.get_batch_samples(self, epoch_iterator, num_batches, device)

    def _get_num_items_in_batch(self, batch_samples: list[Any], device: torch.device) -> Any:
        count = (
            len(batch_samples) > 0
            and isinstance(batch_samples[0], Mapping)
            and "labels" in batch_samples[0]
            and (self.model_accepts_loss_kwargs or self.compute_loss_func is not None)
        )
        if not count:
            return None
        num_items: Any = losses.count_items_in_batch(batch_samples, self._loss_shifts_labels)
        if num_items is None:
            return None
        if self.args.average_tokens_across_devices:
            if self.args.world_size > 1:
                num_items = self.accelerator.gather(num_items.to(device)).sum()
        elif self.args.n_gpu > 1:
            num_items = num_items // self.args.n_gpu
        num_items = num_items.to(device)
        if self.args.n_gpu > 1 and num_items.dim() == 0:
            num_items = num_items.unsqueeze(0).expand(self.args.n_gpu, -1)
        return num_items / (self.get_tp_size() * self.get_cp_size() * self.get_sp_size())

    def training_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Forward and backward on one micro-batch; returns the detached (GA-scaled) loss."""
        if not (model.training and self.model.training):
            # transformers calls model.train() every step; it walks every module, so only when
            # needed. Evaluation puts the unwrapped model in eval mode under a still-training
            # wrapper (DDP, torch.compile), hence both flags.
            model.train()
        plan = self._step_plan()
        if plan.optimizer_train is not None:
            plan.optimizer_train()  # schedule-free optimizers
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        del inputs
        empty_every = self.args.torch_empty_cache_steps
        if empty_every is not None and self.state.global_step % empty_every == 0:
            _clear_device_cache(self.args.device)
        if self.args.n_gpu > 1:
            loss = loss.mean()
        scaled = self.loss_is_scaled_for_ga
        if scaled is None:
            scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or (
                self.compute_loss_func is not None
            )
        if not scaled and self.current_gradient_accumulation_steps != 1:
            # Dividing by 1 changes no bit; skipping it saves two ops (forward and backward) per step.
            loss = loss / self.current_gradient_accumulation_steps
        if plan.plain_backward:
            loss.backward()
        else:
            kwargs: dict[str, Any] = {}
            if self.args.optim in ("lomo", "adalomo"):
                # LOMO fuses the update into backward, so it needs the learning rate there.
                kwargs["learning_rate"] = self._get_learning_rate()
            if self.accelerator.distributed_type == "DEEPSPEED":
                kwargs["scale_wrt_gas"] = False
            self.accelerator.backward(loss, **kwargs)
        return loss.detach()

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        """The loss the model returns (or `compute_loss_func` / label smoothing on its outputs)."""
        data_mod.ensure_mapping(inputs)
        labels = None
        if (
            self.label_smoother is not None or self.compute_loss_func is not None
        ) and "labels" in inputs:
            labels = inputs.pop("labels")
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            inputs = {**inputs, "num_items_in_batch": num_items_in_batch}
        outputs = model(**inputs)

        if self.compute_loss_func is not None:
            if labels is None:
                logger.warning(
                    "Trainer: `compute_loss_func` is defined but `labels=None`. "
                    "Your custom loss function will still be called with labels=None. "
                )
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
        elif labels is not None:
            assert self.label_smoother is not None
            shift = losses.is_causal_lm_class(
                losses.unwrap_peft(self.accelerator.unwrap_model(model))
            )
            loss = self.label_smoother(
                outputs, labels, shift_labels=shift, num_items_in_batch=num_items_in_batch
            )
        else:
            loss = losses.loss_from_outputs(outputs, inputs, self.label_names)
            if loss is None:
                raise ValueError(
                    f"The model returned no loss (None). It received the inputs {list(inputs.keys())}; the Trainer "
                    f"expects labels under {self.label_names}. Make sure the batch carries the labels and the model "
                    "computes a loss from them (or pass `compute_loss_func`)."
                )
        if (
            self.args.average_tokens_across_devices
            and (self.model_accepts_loss_kwargs or self.compute_loss_func)
            and num_items_in_batch is not None
        ):
            scale = self.accelerator.num_processes // self.get_tp_size()
            loss = loss * (scale if self.args.n_gpu <= 1 else self.args.n_gpu)
        return (loss, outputs) if return_outputs else loss

    def compute_loss_context_manager(self) -> contextlib.ExitStack[Any]:
        stack = _ExitStack()
        ctx = self.autocast_smart_context_manager()
        if not isinstance(ctx, contextlib.nullcontext):
            stack.enter_context(ctx)
        return stack

    def autocast_smart_context_manager(
        self, cache_enabled: bool | None = True
    ) -> contextlib.AbstractContextManager[Any]:
        # accelerate applies autocast to the prepared model's forward.
        return contextlib.nullcontext()

    def _model_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """`list(model.parameters())`, cached for the epoch (walking the modules every step is slow)."""
        cache = self._parameters_cache
        if cache is None or cache[0] is not model:
            cache = self._parameters_cache = (model, list(model.parameters()))
        return cache[1]

    def _step_plan(self) -> StepPlan:
        """The `StepPlan` of the current accelerator and optimizer (rebuilt when either changes)."""
        plan = self._plan
        if plan is None or not plan.matches(self.accelerator, self.optimizer):
            plan = self._plan = StepPlan.build(self.accelerator, self.optimizer)
        return plan

    def _clip_grad_norm(self, model: nn.Module) -> Any:
        params = self._model_parameters(model)
        return self._step_plan().clip(params, self.args.max_grad_norm)

    def _get_grad_norm(self, model: nn.Module, grad_norm: Any = None) -> Any:
        if grad_norm is None:
            params = self._model_parameters(model)
            grad_norm = self._step_plan().clip(params, float("inf"))
        return grad_norm

    def _track_num_input_tokens(self, inputs: dict[str, Any]) -> None:
        mode = self.args.include_num_input_tokens_seen
        if mode in ("no", False, None):
            return
        main = getattr(self.model, "main_input_name", "input_ids")
        if main not in inputs:
            logger.warning(
                "Tried to track the number of tokens seen, however the current model is not configured properly to "
                "know what item is the input. To fix this, add a `main_input_name` attribute to the model class."
            )
            return
        tokens: Any
        if mode == "non_padding":
            pad_id = getattr(self.processing_class, "pad_token_id", None)
            if "attention_mask" in inputs:
                tokens = inputs["attention_mask"].sum()
            elif pad_id is not None:
                tokens = (inputs[main] != pad_id).sum()
            else:
                tokens = inputs[main].numel()
        else:
            tokens = inputs[main].numel()
        if self.args.world_size > 1:
            tokens = torch.as_tensor(tokens, device=self.args.device, dtype=torch.int64)
            tokens = self.accelerator.gather(tokens).sum()
        self.state.num_input_tokens_seen += int(tokens)

    def _maybe_log_save_evaluate(
        self,
        tr_loss: torch.Tensor,
        grad_norm: Any,
        model: nn.Module,
        trial: Any,
        epoch: float,
        ignore_keys_for_eval: list[str] | None,
        start_time: float,
        learning_rate: float | None = None,
    ) -> None:
        training.maybe_log_save_evaluate(
            self,
            tr_loss,
            grad_norm,
            model,
            trial,
            epoch,
            ignore_keys_for_eval,
            start_time,
            learning_rate,
        )

    def _evaluate(
        self, trial: Any, ignore_keys_for_eval: list[str] | None, skip_scheduler: bool = False
    ) -> Any:
        return training.evaluate_during_training(self, trial, ignore_keys_for_eval, skip_scheduler)

    def _determine_best_metric(self, metrics: dict[str, float], trial: Any) -> bool:
        return training.determine_best_metric(self, metrics)

    def _finalize_training(self, trial: Any, num_train_samples: float, start_time: float) -> Any:
        return training.finalize_training(self, trial, num_train_samples, start_time)

    def hyperparameter_search(
        self,
        hp_space: Callable[[Any], dict[str, Any]] | None = None,
        compute_objective: Callable[[dict[str, float]], Any] | None = None,
        n_trials: int = 20,
        direction: str | list[str] = "minimize",
        backend: Any = None,
        hp_name: Callable[[Any], str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Search hyperparameters with Optuna (needs `model_init`); returns `BestRun` (or a list)."""
        from trainer_loop.hpsearch import run_hyperparameter_search

        return run_hyperparameter_search(
            self, hp_space, compute_objective, n_trials, direction, backend, hp_name, **kwargs
        )

    def _hp_search_setup(self, trial: Any) -> None:
        self._trial = trial
        if self.hp_search_backend is not None and trial is not None:
            from trainer_loop.hpsearch import apply_trial

            apply_trial(self, trial)

    def _report_to_hp_search(self, trial: Any, step: int, metrics: dict[str, float]) -> None:
        if self.hp_search_backend is None or trial is None:
            return
        from trainer_loop.hpsearch import report_to_hp_search

        report_to_hp_search(self, trial, step, metrics)

    # ---- evaluation ---------------------------------------------------------------------------

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Evaluate; a dict of datasets gives one pass per entry with prefix `{prefix}_{name}`."""
        override = eval_dataset is not None
        eval_dataset = eval_dataset if override else self.eval_dataset
        if isinstance(eval_dataset, dict):
            metrics: dict[str, float] = {}
            for name, dataset in eval_dataset.items():
                metrics.update(
                    self.evaluate(
                        eval_dataset=dataset if override else name,
                        ignore_keys=ignore_keys,
                        metric_key_prefix=f"{metric_key_prefix}_{name}",
                    )
                )
            return metrics

        self._memory_tracker.start(stage="eval")
        dataloader = self.get_eval_dataloader(eval_dataset)
        import time

        start_time = time.time()
        output = self.evaluation_loop(
            dataloader,
            description="Evaluation",
            prediction_loss_only=True if self.compute_metrics is None else None,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        self._add_speed_metrics(output, metric_key_prefix, start_time)
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, output.metrics
        )
        self._memory_tracker.stop_and_update_metrics(output.metrics, stage="eval")
        return output.metrics  # type: ignore[no-any-return]

    def _add_speed_metrics(self, output: Any, prefix: str, start_time: float) -> None:
        import math

        total_batch_size = self.args.eval_batch_size * self.args.world_size
        prep_key = f"{prefix}_model_preparation_time"
        if prep_key in output.metrics:
            start_time += output.metrics[prep_key]
        output.metrics.update(
            speed_metrics(
                prefix,
                start_time,
                num_samples=output.num_samples,
                num_steps=math.ceil(output.num_samples / total_batch_size),
            )
        )

    def predict(
        self,
        test_dataset: Any,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "test",
    ) -> Any:
        """Predictions, label ids and metrics (`test_` prefix); no log entry."""
        from trainer_loop.outputs import PredictionOutput

        self._memory_tracker.start(stage="test")
        dataloader = self.get_test_dataloader(test_dataset)
        import time

        start_time = time.time()
        output = self.evaluation_loop(
            dataloader,
            description="Prediction",
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        self._add_speed_metrics(output, metric_key_prefix, start_time)
        self.control = self.callback_handler.on_predict(
            self.args, self.state, self.control, output.metrics
        )
        self._memory_tracker.stop_and_update_metrics(output.metrics, stage="test")
        return PredictionOutput(
            predictions=output.predictions, label_ids=output.label_ids, metrics=output.metrics
        )

    def evaluation_loop(
        self,
        dataloader: DataLoader[Any],
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        """The loop shared by `evaluate()` and `predict()`; returns `EvalLoopOutput`."""
        return evaluation.evaluation_loop(
            self, dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
        )

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, Any, Any]:
        """One evaluation step: `(loss, logits, labels)`."""
        return evaluation.prediction_step(self, model, inputs, prediction_loss_only, ignore_keys)

    # ---- logging and metrics --------------------------------------------------------------------

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `epoch` (and token counts), append to `log_history` with `step`, fire `on_log`.

        A training log also gets `throughput_*` keys, in the `on_log` payload only.
        """
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        if self.args.include_num_input_tokens_seen not in ("no", False, None):
            logs["num_input_tokens_seen"] = self.state.num_input_tokens_seen
            if start_time is not None:
                tokens = self.state.num_input_tokens_seen - self._initial_num_input_tokens_seen
                logs.update(speed_metrics("train", start_time, num_tokens=tokens))
        self.state.log_history.append({**logs, "step": self.state.global_step})
        extras, self._log_extras = self._log_extras, None
        if extras:
            # Training logs' `throughput_*` keys: after the history entry was taken, so the
            # callbacks (progress, JSONL/CSV, trackers) see them and `log_history` stays as
            # transformers writes it.
            logs.update(extras)
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    def store_flos(self) -> None:
        """Move this process's FLOP count into `state.total_flos` (summed over processes)."""
        if self.args.world_size > 1:
            from trainer_dist.collectives import gather

            # float32, as transformers' distributed_broadcast_scalars: totals agree bit for bit.
            flos = torch.tensor([self.current_flos], dtype=torch.float32, device=self.args.device)
            self.state.total_flos += gather(self.accelerator, flos).sum().item()
        else:
            self.state.total_flos += self.current_flos
        self.current_flos = 0

    def floating_point_ops(self, inputs: dict[str, Any]) -> int:
        """`6 × tokens × non-embedding parameters` for models with `num_parameters`, else 0.

        The parameter count is computed once per model (transformers walks the model every step).
        """
        cache = self._flops_cache
        if cache is None or cache[0] is not self.model:
            main = getattr(self.model, "main_input_name", "input_ids")
            params = None
            if hasattr(self.model, "num_parameters"):
                params = int(self.model.num_parameters(exclude_embeddings=True))
            cache = self._flops_cache = (self.model, main, params)
        _, main, params = cache
        if params is None or main not in inputs:
            return 0
        return 6 * inputs[main].numel() * params

    def log_metrics(self, split: str, metrics: dict[str, Any]) -> None:
        """Print `***** {split} metrics *****` and aligned, sorted lines (world process zero only)."""
        if not self.is_world_process_zero():
            return
        for line in format_metrics_lines(split, metrics):
            print(line)

    def save_metrics(self, split: str, metrics: dict[str, Any], combined: bool = True) -> None:
        """Write `{split}_results.json` (and merge into `all_results.json`)."""
        if self.is_world_process_zero():
            save_metrics_json(self.args.output_dir, split, metrics, combined)

    def metrics_format(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Human-readable metrics (transformers 5.24's version lacks `self` and raises; this one works)."""
        from trainer_loop.metrics import metrics_format

        return metrics_format(metrics)

    # ---- saving ---------------------------------------------------------------------------------

    def save_state(self) -> None:
        """Write `output_dir/trainer_state.json` (world process zero only)."""
        if self.is_world_process_zero():
            self.state.save_to_json(os.path.join(self.args.output_dir, "trainer_state.json"))

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the model (safetensors / save_pretrained), processing class and training args."""
        self._save(output_dir)

    def _save(
        self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None
    ) -> None:
        """Write the model files to `output_dir` (default `args.output_dir`), as transformers.

        `state_dict` replaces the model's own weights (scripts pass a CPU copy); only the
        processes with `args.should_save` write.
        """
        from trainer_loop import checkpoint_calls

        folder = output_dir if output_dir is not None else self.args.output_dir
        checkpoint_calls.save_model(self, folder, state_dict)

    def _save_checkpoint(self, model: nn.Module, trial: Any) -> None:
        from trainer_loop import checkpoint_calls

        checkpoint_calls.save_checkpoint(self, model, trial)

    def _get_output_dir(self, trial: Any) -> str:
        if self.hp_search_backend is not None and trial is not None:
            from trainer_loop.hpsearch import trial_output_dir

            return trial_output_dir(self, trial)
        return str(self.args.output_dir)

    def _get_last_checkpoint(self, folder: str) -> str | None:
        from trainer_loop import checkpoint_calls

        return checkpoint_calls.last_checkpoint(folder)

    def _load_from_checkpoint(
        self, resume_from_checkpoint: str, model: nn.Module | None = None
    ) -> None:
        from trainer_loop import checkpoint_calls

        checkpoint_calls.load_model(self, resume_from_checkpoint, model)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        from trainer_loop import checkpoint_calls

        if checkpoint is not None:
            checkpoint_calls.load_optimizer_and_scheduler(self, checkpoint)

    def _load_rng_state(self, checkpoint: str | None) -> None:
        from trainer_loop import checkpoint_calls

        if checkpoint is not None:
            checkpoint_calls.load_rng(self, checkpoint)

    def _load_best_model(self) -> None:
        from trainer_loop import checkpoint_calls

        checkpoint_calls.load_best_model(self)

    def _load_callback_state(self) -> None:
        from trainer_loop import checkpoint_calls

        checkpoint_calls.load_callback_state(self)

    def _delete_non_best_checkpoints(self, trial: Any) -> None:
        from trainer_loop import checkpoint_calls

        checkpoint_calls.delete_non_best(self, trial)

    # ---- Hugging Face Hub -------------------------------------------------------------------------

    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Not supported: this Trainer does not push to the Hugging Face Hub."""
        raise _hub_unsupported("push_to_hub=True")

    def push_to_hub(
        self, commit_message: str | None = "End of training", blocking: bool = True, **kwargs: Any
    ) -> Any:
        """Not supported: save with `save_model()` and upload with `huggingface_hub` yourself."""
        raise _hub_unsupported("Trainer.push_to_hub()")

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
    ) -> None:
        """Draft a model card in `output_dir/README.md`, as transformers does, without the network.

        It names the model, what it was fine-tuned from and on, the last evaluation results,
        the hyperparameters, every evaluation during training and the framework versions. The
        base model, the task and the dataset are inferred from the model and the data unless
        given. An existing card's tags are kept when `tags` is given; a PEFT card is updated by
        the PEFT model too. Only the world's main process writes.
        """
        if not self.is_world_process_zero():
            return
        from pathlib import Path

        from trainer_loop.model_card import (
            MODEL_CARD_NAME,
            ModelCard,
            merged_tags,
            write_model_card,
        )

        tags, library = merged_tags(Path(self.args.output_dir) / MODEL_CARD_NAME, tags)
        card = ModelCard.from_run(
            args=self.args,
            model=self.model,
            dataset_object=self.eval_dataset
            if self.eval_dataset is not None
            else self.train_dataset,
            log_history=self.state.log_history,
            language=language,
            license=license,
            tags=tags,
            model_name=model_name,
            finetuned_from=finetuned_from,
            tasks=tasks,
            dataset_tags=dataset_tags,
            dataset=dataset,
            dataset_args=dataset_args,
        )
        write_model_card(self.args.output_dir, card)
        if library == "peft":
            self.accelerator.unwrap_model(self.model).create_or_update_model_card(
                self.args.output_dir
            )

    # ---- callbacks and processes ------------------------------------------------------------------

    def add_callback(self, callback: Any) -> None:
        """Add a callback (class or instance)."""
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback: Any) -> Any:
        """Remove and return a callback (class or instance); None if absent."""
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback: Any) -> None:
        """Remove a callback (class or instance)."""
        self.callback_handler.remove_callback(callback)

    def is_local_process_zero(self) -> bool:
        return bool(self.args.local_process_index == 0)

    def is_world_process_zero(self) -> bool:
        return bool(self.args.process_index == 0)

    def end(self) -> None:
        """Finish trackers and destroy the process group (call once, at the very end)."""
        self.accelerator.end_training()


class _ExitStack(contextlib.ExitStack):  # type: ignore[type-arg]
    """An ExitStack whose exit returns at once when nothing was entered (every step on the CPU)."""

    def __exit__(self, *exc_details: Any) -> bool:
        if not self._exit_callbacks:  # type: ignore[attr-defined]
            return False
        return bool(super().__exit__(*exc_details))


def _hub_unsupported(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what}: pushing to the Hugging Face Hub is not supported by this Trainer. Train with "
        "`push_to_hub=False`, save with `trainer.save_model(dir)` and upload the folder with "
        "`huggingface_hub.upload_folder` (it holds safetensors weights and JSON files only)."
    )


def _clear_device_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
    elif device.type == "xpu" and hasattr(torch, "xpu"):
        torch.xpu.empty_cache()


def _pads_itself(processing_class: Any) -> bool:
    """A tokenizer or sequence feature extractor (transformers' DataCollatorWithPadding cases).

    Processors (which hold a `.tokenizer`) and image processors get `default_data_collator`.
    """
    if processing_class is None or not callable(getattr(processing_class, "pad", None)):
        return False
    if hasattr(processing_class, "tokenizer"):
        return False
    return hasattr(processing_class, "pad_token_id") or hasattr(processing_class, "padding_value")


class _PaddingCollator:
    """`DataCollatorWithPadding(tokenizer)`: `tokenizer.pad(features, return_tensors="pt")`, labels renamed."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = dict(self.tokenizer.pad(features, padding=True, return_tensors="pt"))
        for old in ("label", "label_ids"):
            if old in batch:
                batch["labels"] = batch.pop(old)
        return batch
