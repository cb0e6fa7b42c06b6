"""`EarlyStoppingCallback`: stop training when the tracked metric stops improving."""

from __future__ import annotations

import logging
from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.state import ExportableState, TrainerControl, TrainerState

__all__ = ["EarlyStoppingCallback"]

logger = logging.getLogger(__name__)


class EarlyStoppingCallback(TrainerCallback, ExportableState):
    """Stops training after `early_stopping_patience` evaluations without improvement.

    An improvement beats `state.best_metric` (in the `greater_is_better` direction) by more
    than `early_stopping_threshold`. `state.best_metric` is updated by the Trainer *after*
    `on_evaluate`, so each evaluation is compared with the best of the previous ones. Needs
    `metric_for_best_model` and an eval strategy; the patience counter is saved in checkpoints.
    """

    def __init__(
        self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0
    ) -> None:
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_threshold = early_stopping_threshold
        # How many evaluations in a row failed to improve on the best metric.
        self.early_stopping_patience_counter = 0

    def check_metric_value(
        self, args: Any, state: TrainerState, control: TrainerControl, metric_value: float
    ) -> None:
        best = state.best_metric
        if best is None or self._improves(args, metric_value, best):
            self.early_stopping_patience_counter = 0
        else:
            self.early_stopping_patience_counter += 1

    def _improves(self, args: Any, value: float, best: float) -> bool:
        better = value > best if args.greater_is_better else value < best
        return better and abs(value - best) > (self.early_stopping_threshold or 0.0)

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not args.load_best_model_at_end:
            logger.warning(
                "Using EarlyStoppingCallback without load_best_model_at_end=True. "
                "Once training is finished, the best model will not be loaded automatically."
            )
        # AssertionError, as transformers raises: user code may catch exactly that.
        if args.metric_for_best_model is None:
            raise AssertionError(
                "EarlyStoppingCallback requires metric_for_best_model to be defined"
            )
        if args.eval_strategy == "no":
            raise AssertionError(
                "EarlyStoppingCallback requires IntervalStrategy of steps or epoch"
            )

    def on_evaluate(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metric_to_check = args.metric_for_best_model
        if not metric_to_check.startswith("eval_"):
            metric_to_check = f"eval_{metric_to_check}"
        metric_value = (metrics or {}).get(metric_to_check)
        if metric_value is None:
            logger.warning(
                f"early stopping required metric_for_best_model, but did not find {metric_to_check} so early stopping"
                " is disabled"
            )
            return
        self.check_metric_value(args, state, control, metric_value)
        if self.early_stopping_patience_counter >= self.early_stopping_patience:
            control.should_training_stop = True

    def state(self) -> dict[str, Any]:
        return {
            "args": {
                "early_stopping_patience": self.early_stopping_patience,
                "early_stopping_threshold": self.early_stopping_threshold,
            },
            "attributes": {
                "early_stopping_patience_counter": self.early_stopping_patience_counter,
            },
        }
