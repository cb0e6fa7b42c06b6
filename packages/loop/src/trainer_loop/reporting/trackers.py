"""The shape the experiment-tracker callbacks (Trackio, W&B, Comet, MLflow) share.

Each tracker is set up once: at train begin, or on its first log when evaluate()/predict()
runs without training. Only the world's process zero talks to the tracker. What a tracker
sends, and how, stays in its own module; this module holds only the parts that are the same.
"""

from __future__ import annotations

from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.reporting.common import rewrite_logs
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["SUMMARY_KEYS", "PredictionTracker", "Tracker", "model_and_args_config", "step_history"]

# End-of-training numbers: transformers keeps them out of the trackers' step-indexed history.
SUMMARY_KEYS = (
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
    "total_flos",
)


def model_and_args_config(args: Any, model: Any) -> dict[str, Any]:
    """The training arguments over the model's config, as transformers merges them for a run."""
    config: dict[str, Any] = dict(args.to_dict())
    model_config = getattr(model, "config", None)
    if model_config is not None:
        model_dict = model_config if isinstance(model_config, dict) else model_config.to_dict()
        config = {**model_dict, **config}
    return config


def step_history(logs: dict[str, Any], state: TrainerState) -> dict[str, Any]:
    """Rewritten logs without the summary numbers, stamped with `train/global_step`."""
    history = rewrite_logs({k: v for k, v in logs.items() if k not in SUMMARY_KEYS})
    return {**history, "train/global_step": state.global_step}


class Tracker(TrainerCallback):
    """Lazy, once-only `setup` and the process-zero guard around every log."""

    def __init__(self) -> None:
        self._initialized = False

    def setup(self, args: Any, state: TrainerState, model: Any) -> None:
        """Start the run; must set `self._initialized` (on every process, not just zero)."""
        raise NotImplementedError

    def _log(self, logs: dict[str, Any], state: TrainerState) -> None:
        """Send one `on_log` payload; called on process zero only."""
        raise NotImplementedError

    def _ensure_setup(self, args: Any, state: TrainerState, model: Any) -> None:
        if not self._initialized:
            self.setup(args, state, model)

    def on_train_begin(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        self._ensure_setup(args, state, model)

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # A log can come before any train begin (evaluate() alone): set up on first use.
        self._ensure_setup(args, state, model)
        if state.is_world_process_zero and logs is not None:
            self._log(logs, state)


class PredictionTracker(Tracker):
    """A tracker that also records predict()'s metrics (MLflow, as in transformers, does not)."""

    def _log_prediction(self, metrics: dict[str, Any], state: TrainerState) -> None:
        """Send predict()'s non-empty metrics; called on process zero only."""
        raise NotImplementedError

    def on_predict(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        self._ensure_setup(args, state, kwargs.get("model"))
        if state.is_world_process_zero and metrics:
            self._log_prediction(metrics, state)
