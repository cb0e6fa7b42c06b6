"""One micro-batch: `training_step` (forward and backward) and `compute_loss`, and what they count.

Also the gradient-norm and clipping calls of the optimizer step, which go straight to torch
where accelerate's wrappers would only forward (`trainer_dist.step_plan`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainer_dist.step_plan import StepPlan
from trainer_loop import losses
from trainer_loop.data import batches
from trainer_loop.data.collators import ensure_mapping
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["StepMixin"]


class _ExitStack(contextlib.ExitStack):  # type: ignore[type-arg]
    """An ExitStack whose exit returns at once when nothing was entered (every step on the CPU)."""

    def __exit__(self, *exc_details: Any) -> bool:
        if not self._exit_callbacks:  # type: ignore[attr-defined]
            return False
        return bool(super().__exit__(*exc_details))


def _clear_device_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
    elif device.type == "xpu" and hasattr(torch, "xpu"):
        torch.xpu.empty_cache()


class StepMixin(TrainerAttributes):
    """`training_step`, `compute_loss` and the per-step counters."""

    def training_step(
        self: Trainer,
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
        # In a run, hooks left as they are may be skipped (read once per epoch, see
        # `_keeps_default`): each is about 1% of a tiny model's step.
        run = self._run
        if run is not None and run.input_placement is not None:
            # `_prepare_inputs` and `_prepare_input` are the defaults: their work, inline.
            inputs = batches.prepare_input(inputs, *run.input_placement)
            if len(inputs) == 0:
                raise self._empty_batch_error()
        else:
            inputs = self._prepare_inputs(inputs)
        if run is not None and run.loss_context_is_empty:
            # The context would be an empty ExitStack: entering it does nothing.
            loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        else:
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
        self: Trainer,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> Any:
        """The loss the model returns (or `compute_loss_func` / label smoothing on its outputs)."""
        ensure_mapping(inputs)
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

    def compute_loss_context_manager(self: Trainer) -> contextlib.ExitStack[Any]:
        stack = _ExitStack()
        ctx = self.autocast_smart_context_manager()
        if not isinstance(ctx, contextlib.nullcontext):
            stack.enter_context(ctx)
        return stack

    def autocast_smart_context_manager(
        self: Trainer, cache_enabled: bool | None = True
    ) -> contextlib.AbstractContextManager[Any]:
        # accelerate applies autocast to the prepared model's forward.
        return contextlib.nullcontext()

    def _keeps_default(self: Trainer, owner: type, *names: str) -> bool:
        """Whether none of the hooks `names` is overridden from `owner`'s, on the class or on
        this instance: `training_step` then does their work without calling them."""
        cls = type(self)
        return not any(
            name in vars(self) or getattr(cls, name) is not getattr(owner, name) for name in names
        )

    def _get_num_items_in_batch(
        self: Trainer, batch_samples: list[Any], device: torch.device
    ) -> Any:
        """Label items over a step's micro-batches (all processes), for the loss normalisation."""
        count = (
            len(batch_samples) > 0
            and (type(batch_samples[0]) is dict or isinstance(batch_samples[0], Mapping))
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

    # ---- the optimizer step's calls ---------------------------------------------------------

    def _step_plan(self: Trainer) -> StepPlan:
        """The `StepPlan` of the current accelerator and optimizer (rebuilt when either changes)."""
        plan = self._plan
        # Compared by identity, inline: this runs three times a step.
        if (
            plan is None
            or plan.accelerator is not self.accelerator
            or plan.optimizer is not self.optimizer
        ):
            plan = self._plan = StepPlan.build(self.accelerator, self.optimizer)
        return plan

    def _model_parameters(self: Trainer, model: nn.Module) -> list[nn.Parameter]:
        """`list(model.parameters())`, kept for the epoch (walking the modules every step is slow)."""
        run = self._run
        if run is not None and run.parameters_of is not None and run.parameters_of[0] is model:
            return run.parameters_of[1]
        params = list(model.parameters())
        if run is not None:
            run.parameters_of = (model, params)
        return params

    def _clip_grad_norm(self: Trainer, model: nn.Module) -> Any:
        return self._step_plan().clip(self._model_parameters(model), self.args.max_grad_norm)

    def _get_grad_norm(self: Trainer, model: nn.Module, grad_norm: Any = None) -> Any:
        if grad_norm is None:
            grad_norm = self._step_plan().clip(self._model_parameters(model), float("inf"))
        return grad_norm

    # ---- counters ---------------------------------------------------------------------------

    def floating_point_ops(self: Trainer, inputs: dict[str, Any]) -> int:
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

    def _track_num_input_tokens(self: Trainer, inputs: dict[str, Any]) -> None:
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
