"""`WandbCallback`: metrics, config and (optionally) checkpoints to Weights & Biases.

`WANDB_MODE=offline` keeps everything local (wandb's own switch). Environment as in
transformers: `WANDB_PROJECT` (default "huggingface"), `WANDB_WATCH`
(`gradients`/`parameters`/`all`), `WANDB_LOG_MODEL=checkpoint` (each checkpoint folder as an
artifact). `WANDB_LOG_MODEL=end` is not supported here (it needs a second Trainer) and warns.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from trainer_loop.reporting.common import is_installed, missing_package_error, rewrite_logs
from trainer_loop.reporting.trackers import (
    SUMMARY_KEYS,
    PredictionTracker,
    model_and_args_config,
    step_history,
)
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["WandbCallback"]

logger = logging.getLogger(__name__)


def _log_model_mode() -> str:
    mode = os.getenv("WANDB_LOG_MODEL", "false").lower()
    if mode not in ("false", "end", "checkpoint"):
        logger.warning(
            f"Received unrecognized `WANDB_LOG_MODEL` setting value={mode}; so disabling `WANDB_LOG_MODEL`"
        )
        return "false"
    if mode == "end":
        logger.warning("WANDB_LOG_MODEL='end' is not supported by trainer; use 'checkpoint'.")
        return "false"
    return mode


class WandbCallback(PredictionTracker):
    """Logs rewritten metrics (`train/loss`, `eval/loss`, ...) against `train/global_step`."""

    def __init__(self) -> None:
        if not is_installed("wandb"):
            raise missing_package_error("wandb", "wandb")
        super().__init__()
        self._wandb: Any = importlib.import_module("wandb")
        self._log_model = _log_model_mode()

    def setup(self, args: Any, state: TrainerState, model: Any) -> None:
        self._initialized = True
        if not state.is_world_process_zero:
            return
        wandb = self._wandb
        config = model_and_args_config(args, model)
        init_args: dict[str, Any] = {}
        if state.trial_name is not None:
            init_args = {"name": state.trial_name, "group": args.run_name or args.output_dir}
        elif args.run_name is not None:
            init_args = {"name": args.run_name}
        if wandb.run is None:
            wandb.init(project=os.getenv("WANDB_PROJECT", "huggingface"), **init_args)
        wandb.config.update(config, allow_val_change=True)
        if getattr(wandb, "define_metric", None):
            wandb.define_metric("train/global_step")
            wandb.define_metric("*", step_metric="train/global_step", step_sync=True)
        watch = os.getenv("WANDB_WATCH", "false")
        if watch in ("all", "parameters", "gradients") and model is not None:
            wandb.watch(model, log=watch, log_freq=max(100, state.logging_steps))

    def on_train_begin(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if state.is_hyper_param_search:
            # A new wandb run per trial.
            self._wandb.finish()
            self._initialized = False
            args.run_name = None
        self._ensure_setup(args, state, model)

    def _log(self, logs: dict[str, Any], state: TrainerState) -> None:
        # The end-of-training numbers go to the run summary instead of the history.
        for key in SUMMARY_KEYS:
            if key in logs:
                self._wandb.run.summary[key] = logs[key]
        self._wandb.log(step_history(logs, state))

    def on_save(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if (
            self._log_model != "checkpoint"
            or not self._initialized
            or not state.is_world_process_zero
        ):
            return
        run = self._wandb.run
        ckpt_dir = f"checkpoint-{state.global_step}"
        name = (
            f"model-{run.id}" if args.run_name in (None, args.output_dir) else f"model-{run.name}"
        )
        artifact = self._wandb.Artifact(name=name, type="model")
        artifact.add_dir(os.path.join(args.output_dir, ckpt_dir))
        aliases = [f"epoch_{round(state.epoch, 2)}", f"checkpoint_global_step_{state.global_step}"]
        self._wandb.log_artifact(artifact, aliases=aliases)

    def _log_prediction(self, metrics: dict[str, Any], state: TrainerState) -> None:
        self._wandb.log(rewrite_logs(metrics))
