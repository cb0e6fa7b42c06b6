"""`TrackioCallback`: metrics and run config to Trackio (local SQLite by default, or a Space).

As transformers: the project is `args.project` (default "huggingface"), the run name
`args.run_name`; `args.trackio_space_id`, `args.trackio_bucket_id` and `args.hub_private_repo`
go to `trackio.init` (no Space id: everything stays in the local database under `TRACKIO_DIR`).
Trackio's own variables (`TRACKIO_DIR`, `TRACKIO_SPACE_ID`, ...) apply as usual. The
post-training static Space snapshot (`trackio_static_space_id`) is not made here.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from trainer_loop.reporting.common import is_installed, missing_package_error, rewrite_logs
from trainer_loop.reporting.trackers import (
    PredictionTracker,
    model_and_args_config,
    step_history,
)
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["TrackioCallback", "run_config"]

logger = logging.getLogger(__name__)


def run_config(args: Any, model: Any) -> dict[str, Any]:
    """The training arguments over the model config (and any PEFT config), as transformers merges them."""
    config = model_and_args_config(args, model)
    peft_config = getattr(model, "peft_config", None)
    if peft_config is not None:
        config = {"peft_config": peft_config, **config}
    return config


class TrackioCallback(PredictionTracker):
    """Logs rewritten metrics (`train/loss`, `eval/loss`, ...) with `train/global_step`."""

    def __init__(self) -> None:
        if not is_installed("trackio"):
            raise missing_package_error("trackio", "trackio")
        super().__init__()
        self._trackio: Any = importlib.import_module("trackio")

    def setup(self, args: Any, state: TrainerState, model: Any) -> None:
        self._initialized = True
        if not state.is_world_process_zero:
            return
        trackio = self._trackio
        # resume="allow": a run of the same name (e.g. evaluate() after train()) continues.
        trackio.init(
            project=args.project,
            name=args.run_name,
            space_id=args.trackio_space_id,
            resume="allow",
            private=args.hub_private_repo,
            bucket_id=args.trackio_bucket_id,
            config=run_config(args, model),
        )
        num_parameters = getattr(model, "num_parameters", None)
        if callable(num_parameters):
            trackio.config["model/num_parameters"] = num_parameters()

    def _log(self, logs: dict[str, Any], state: TrainerState) -> None:
        # The summary numbers stay out of the history, as transformers keeps them.
        self._trackio.log(step_history(logs, state))

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not self._initialized or not state.is_world_process_zero:
            return
        try:
            self._trackio.finish()
        finally:
            self._initialized = False

    def _log_prediction(self, metrics: dict[str, Any], state: TrainerState) -> None:
        self._trackio.log(rewrite_logs(metrics))
