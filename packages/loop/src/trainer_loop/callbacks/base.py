"""`TrainerCallback`: the events a callback can hook, each a no-op until overridden."""

from __future__ import annotations

import logging
from typing import Any

from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["EVENTS", "TrainerCallback"]

logger = logging.getLogger(__name__)

# Every event of transformers 5.x, in the order they are declared there.
EVENTS: tuple[str, ...] = (
    "on_init_end",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_pre_optimizer_step",
    "on_optimizer_step",
    "on_substep_end",
    "on_step_end",
    "on_evaluate",
    "on_predict",
    "on_save",
    "on_log",
    "on_prediction_step",
    "on_push_begin",
)


class TrainerCallback:
    """Hooks into the training loop. Every event is a no-op here; override the ones you need.

    Each event receives `(args, state, control, **kwargs)`; kwargs always hold `model`,
    `processing_class`, `optimizer`, `lr_scheduler`, `train_dataloader` and
    `eval_dataloader`; `on_log` adds `logs`, `on_evaluate`/`on_predict` add `metrics`.
    Return the (modified) `control` to replace the loop's control object, or None to keep it.
    """

    def on_init_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """End of `Trainer.__init__`."""

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """Start of training, once the optimizer and scheduler exist."""

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """End of training."""

    def on_epoch_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """Start of an epoch."""

    def on_epoch_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """End of an epoch."""

    def on_step_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """Start of an optimizer step (before its first micro-batch)."""

    def on_pre_optimizer_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After gradient clipping, before `optimizer.step()`: gradients are complete here."""

    def on_optimizer_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After `optimizer.step()`, before the gradients are zeroed."""

    def on_substep_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After each micro-batch of a gradient-accumulation group but the last."""

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """End of an optimizer step (global_step already incremented)."""

    def on_evaluate(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After an evaluation; kwargs hold `metrics`."""

    def on_predict(
        self, args: Any, state: TrainerState, control: TrainerControl, metrics: Any, **kwargs: Any
    ) -> Any:
        """After a successful `predict`."""

    def on_save(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After a checkpoint save."""

    def on_log(self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any) -> Any:
        """After logging; kwargs hold `logs`."""

    def on_prediction_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """After each evaluation/prediction batch."""

    def on_push_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        """Before pushing to the Hub (`push_to_hub` and checkpoint pushes)."""
