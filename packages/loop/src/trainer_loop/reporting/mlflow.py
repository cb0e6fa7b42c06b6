"""`MLflowCallback`: parameters and metrics into an MLflow run (local `./mlruns` or a server).

Same environment variables as transformers: `MLFLOW_TRACKING_URI`, `MLFLOW_EXPERIMENT_NAME`,
`MLFLOW_RUN_ID`, `MLFLOW_NESTED_RUN`, `MLFLOW_TAGS` (JSON), `MLFLOW_MAX_LOG_PARAMS`,
`MLFLOW_FLATTEN_PARAMS`, `HF_MLFLOW_LOG_ARTIFACTS` (log each checkpoint folder).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
from typing import Any

from trainer_args.truth import TRANSFORMERS_ENV, env_flag
from trainer_loop.reporting.common import is_installed, missing_package_error, numeric_value
from trainer_loop.reporting.trackers import Tracker
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["MLflowCallback"]

logger = logging.getLogger(__name__)

_MAX_PARAM_LENGTH = 250  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
_PARAMS_PER_BATCH = 100  # mlflow.utils.validation.MAX_PARAMS_TAGS_PER_BATCH


def _env_flag(name: str) -> bool:
    # transformers' reading of its MLflow variables: upper-cased, 1/ON/YES/TRUE, no stripping.
    return env_flag(name, TRANSFORMERS_ENV)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _run_params(args: Any, model: Any) -> dict[str, Any]:
    """Arguments (and the model config, under them) as MLflow params, too-long values dropped."""
    params = dict(args.to_dict())
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        params = {**config.to_dict(), **params}
    if _env_flag("MLFLOW_FLATTEN_PARAMS"):
        params = _flatten(params)
    for name, value in list(params.items()):
        if len(str(value)) > _MAX_PARAM_LENGTH:
            logger.warning(
                f'Trainer is attempting to log a value of "{value}" for key "{name}" as a parameter. '
                "MLflow's log_param() only accepts values no longer than 250 characters so we dropped "
                "this attribute."
            )
            del params[name]
    limit = os.getenv("MLFLOW_MAX_LOG_PARAMS")
    if limit and limit.isdigit():
        params = dict(list(params.items())[: int(limit)])
    return params


class MLflowCallback(Tracker):
    """Logs the arguments as params and numeric logs as metrics at `step=global_step`."""

    def __init__(self) -> None:
        if _env_flag("DISABLE_MLFLOW_INTEGRATION") or not is_installed("mlflow"):
            raise missing_package_error("mlflow", "mlflow")
        super().__init__()
        self._ml_flow: Any = importlib.import_module("mlflow")
        self._auto_end_run = False
        self._log_artifacts = False

    def setup(self, args: Any, state: TrainerState, model: Any) -> None:
        self._log_artifacts = _env_flag("HF_MLFLOW_LOG_ARTIFACTS")
        self._initialized = True
        if not state.is_world_process_zero:
            return
        mlflow = self._ml_flow
        tracking_uri = os.getenv("MLFLOW_TRACKING_URI")
        if tracking_uri and not mlflow.is_tracking_uri_set():
            mlflow.set_tracking_uri(tracking_uri)
        nested = _env_flag("MLFLOW_NESTED_RUN")
        run_id = os.getenv("MLFLOW_RUN_ID")
        if mlflow.active_run() is None or nested or run_id:
            experiment = os.getenv("MLFLOW_EXPERIMENT_NAME")
            if experiment:
                mlflow.set_experiment(experiment)
            mlflow.start_run(run_id=run_id, run_name=args.run_name, nested=nested)
            self._auto_end_run = True
        items = list(_run_params(args, model).items())
        for start in range(0, len(items), _PARAMS_PER_BATCH):
            mlflow.log_params(dict(items[start : start + _PARAMS_PER_BATCH]))
        tags = os.getenv("MLFLOW_TAGS")
        if tags:
            mlflow.set_tags(json.loads(tags))

    def _log(self, logs: dict[str, Any], state: TrainerState) -> None:
        metrics: dict[str, float] = {}
        for key, value in logs.items():
            number = numeric_value(value)
            if number is None:
                logger.warning(
                    f'Trainer is attempting to log a value of "{value}" of type {type(value)} for key "{key}" '
                    "as a metric. MLflow's log_metric() only accepts float and int types so we dropped this "
                    "attribute."
                )
                continue
            # MLflow rejects some characters in metric names (e.g. parentheses).
            metrics[re.sub(r"[^0-9A-Za-z_\-\.\ :/]", "_", key)] = number
        self._ml_flow.log_metrics(metrics=metrics, step=state.global_step)

    def on_save(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._initialized and state.is_world_process_zero and self._log_artifacts:
            ckpt_dir = f"checkpoint-{state.global_step}"
            self._ml_flow.log_artifacts(
                os.path.join(args.output_dir, ckpt_dir), artifact_path=ckpt_dir
            )

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._initialized and state.is_world_process_zero and self._auto_end_run:
            if self._ml_flow.active_run() is not None:
                self._ml_flow.end_run()
            self._auto_end_run = False
