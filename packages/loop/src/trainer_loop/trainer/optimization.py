"""Optimizer and scheduler: built from the arguments, as transformers' Trainer builds them.

`learning_rate` goes from the field to the optimizer in one straight line:
`create_optimizer` -> `get_optimizer_cls_and_kwargs(args)` -> the `optim` registry's handler,
which returns the class and `{"lr": args.learning_rate, ...}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainer_loop.optim import registry
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

__all__ = ["OptimizationMixin", "steps_on_metrics"]


def steps_on_metrics(scheduler: Any) -> bool:
    """ReduceLROnPlateau and GreedyLR step on an evaluation metric, not after each step."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return True
    return type(scheduler).__name__ == "GreedyLR"


class OptimizationMixin(TrainerAttributes):
    """`create_optimizer`, `create_scheduler` and the learning-rate getters."""

    def create_optimizer_and_scheduler(self: Trainer, num_training_steps: int) -> None:
        """`create_optimizer()` then `create_scheduler(num_training_steps)`."""
        self.create_optimizer()
        self.create_scheduler(num_training_steps=num_training_steps)

    def create_optimizer(self: Trainer, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The optimizer: decay / no-decay parameter groups, class and kwargs from args (or given).

        `optimizer_cls_and_kwargs` given to the Trainer replaces the `optim` lookup (its
        kwargs are used as given). Both hooks below are called through `self`, so a subclass
        overriding either changes the optimizer.
        """
        opt_model = self.model if model is None else model
        if self.optimizer is None:
            decay_names = self.get_decay_parameter_names(opt_model)
            groups = registry.param_groups(opt_model, self.args.weight_decay, decay_names)
            if self.optimizer_cls_and_kwargs is not None:
                optimizer_cls, kwargs = self.optimizer_cls_and_kwargs
            else:
                optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = registry.build_optimizer(optimizer_cls, kwargs, groups, opt_model)
        return self.optimizer  # type: ignore[return-value]

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: Any, model: nn.Module | None = None) -> tuple[Any, Any]:
        """The optimizer class and kwargs for `args.optim` (a clear error for unknown names)."""
        return registry.get_optimizer_cls_and_kwargs(args, model)

    def get_decay_parameter_names(self: Trainer, model: nn.Module) -> list[str]:
        """Parameters that get weight decay: not biases, not in LayerNorm, not *norm* names."""
        return list(registry.get_decay_parameter_names(model))

    def create_scheduler(
        self: Trainer, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
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

    def _get_learning_rate(self: Trainer) -> float:
        if steps_on_metrics(self.lr_scheduler):
            last_lr = self.optimizer.param_groups[0]["lr"]  # type: ignore[union-attr]
        else:
            last_lr = self.lr_scheduler.get_last_lr()[0]
        return float(last_lr.item()) if isinstance(last_lr, torch.Tensor) else last_lr  # type: ignore[no-any-return]

    def get_learning_rates(self: Trainer) -> list[float]:
        if self.optimizer is None:
            raise ValueError(
                "Trainer optimizer is None, please make sure you have setup the optimizer before."
            )
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_optimizer_group(self: Trainer, param: Any = None) -> Any:
        if self.optimizer is None:
            raise ValueError(
                "Trainer optimizer is None, please make sure you have setup the optimizer before."
            )
        if param is not None:
            for group in self.optimizer.param_groups:
                if param in group["params"]:
                    return group
        return [group["params"] for group in self.optimizer.param_groups]

    def get_num_trainable_parameters(self: Trainer) -> int:
        return int(sum(p.numel() for p in self.model.parameters() if p.requires_grad))
