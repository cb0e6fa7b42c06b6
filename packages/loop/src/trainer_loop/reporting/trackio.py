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

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.reporting.common import is_installed, missing_package_error, rewrite_logs
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["TrackioCallback", "run_config"]

logger = logging.getLogger(__name__)

# End-of-training numbers: transformers keeps them out of Trackio's step-indexed history.
SINGLE_VALUE_SCALARS = (
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
    "total_flos",
)


def run_config(args: Any, model: Any) -> dict[str, Any]:
    """The training arguments over the model config (and any PEFT config), as transformers merges them."""
    config: dict[str, Any] = dict(args.to_dict())
    model_config = getattr(model, "config", None)
    if model_config is not None:
        model_dict = model_config if isinstance(model_config, dict) else model_config.to_dict()
        config = {**model_dict, **config}
    peft_config = getattr(model, "peft_config", None)
    if peft_config is not None:
        config = {"peft_config": peft_config, **config}
    return config


class TrackioCallback(TrainerCallback):
    """Logs rewritten metrics (`train/loss`, `eval/loss`, ...) with `train/global_step`."""

    def __init__(self) -> None:
        if not is_installed("trackio"):
            raise missing_package_error("trackio", "trackio")
        self._trackio: Any = importlib.import_module("trackio")
        self._initialized = False

    def setup(self, args: Any, state: TrainerState, model: Any, **kwargs: Any) -> None:
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

    def on_train_begin(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not self._initialized:
            self.setup(args, state, model)

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self._initialized:
            self.setup(args, state, model)
        if not state.is_world_process_zero or logs is None:
            return
        history = rewrite_logs({k: v for k, v in logs.items() if k not in SINGLE_VALUE_SCALARS})
        self._trackio.log({**history, "train/global_step": state.global_step})

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not self._initialized or not state.is_world_process_zero:
            return
        try:
            self._trackio.finish()
        finally:
            self._initialized = False

    def on_predict(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        if not self._initialized:
            self.setup(args, state, kwargs.get("model"))
        if state.is_world_process_zero and metrics:
            self._trackio.log(rewrite_logs(metrics))
