"""`CometCallback`: parameters and metrics to a Comet experiment (online, or an offline zip).

Environment as in transformers: `COMET_MODE` (`get_or_create`, `get`, `create`; hyperparameter
search always creates), `COMET_PROJECT_NAME`, `COMET_LOG_ASSETS` (`TRUE`: the output folder
is logged as assets at the end of training); online or offline follows Comet's own
`COMET_START_ONLINE`. As older transformers did, `COMET_MODE=offline` (or `online`) also picks
that, and `COMET_MODE=disabled` turns the callback off. `COMET_OFFLINE_DIRECTORY` is where an
offline experiment writes its zip, which happens when it ends: here at the end of training.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from typing import Any

from trainer_args.truth import COMET_ENV, env_flag
from trainer_loop.reporting.common import is_installed, missing_package_error, rewrite_logs
from trainer_loop.reporting.trackers import PredictionTracker
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["MIN_COMET_VERSION", "CometCallback", "start_options"]

logger = logging.getLogger(__name__)

MIN_COMET_VERSION = (3, 43, 2)  # the oldest comet_ml with `comet_ml.start`, as transformers


def _comet_version() -> tuple[int, ...]:
    try:
        text = importlib.metadata.version("comet_ml")
    except importlib.metadata.PackageNotFoundError:
        return MIN_COMET_VERSION  # importable without metadata (a vendored copy): trust it
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def start_options(state: TrainerState) -> dict[str, Any] | None:
    """`comet_ml.start` keywords from `COMET_MODE`; None when Comet logging is off."""
    raw = os.getenv("COMET_MODE")
    mode: str | None = None
    online: bool | None = None
    if raw:
        value = raw.lower()
        if value in ("get", "get_or_create", "create"):
            mode = value
        elif value in ("online", "offline"):
            online = value == "online"
        elif value == "disabled":
            return None
        else:
            logger.warning("Invalid COMET_MODE env value %r, Comet logging is disabled", raw)
            return None
    if state.is_hyper_param_search:
        if mode is not None:
            logger.warning(
                "Hyperparameter Search is enabled, forcing the creation of new experiments, "
                "COMET_MODE value %r is ignored",
                raw,
            )
        mode = "create"  # one experiment per trial
    return {"mode": mode, "online": online, "project_name": os.getenv("COMET_PROJECT_NAME")}


class CometCallback(PredictionTracker):
    """Logs the arguments as nested parameters and rewritten metrics at `step`/`epoch`."""

    def __init__(self) -> None:
        if not is_installed("comet_ml"):
            raise missing_package_error("comet_ml", "comet_ml", "comet-ml")
        if _comet_version() < MIN_COMET_VERSION:
            wanted = ".".join(map(str, MIN_COMET_VERSION))
            raise RuntimeError(
                f"report_to='comet_ml' needs comet_ml>={wanted}. "
                f"Upgrade it with `pip install 'comet-ml>={wanted}'`."
            )
        super().__init__()
        self._comet: Any = importlib.import_module("comet_ml")
        self._log_assets = False
        self._experiment: Any = None
        # Set once training ends the experiment, so later evaluate()/predict() append to it.
        self._ended_key: str | None = None

    def setup(self, args: Any, state: TrainerState, model: Any) -> None:
        self._initialized = True
        self._log_assets = env_flag("COMET_LOG_ASSETS", COMET_ENV)
        if not state.is_world_process_zero:
            return
        options = start_options(state)
        if options is None:
            return
        comet = self._comet
        reopen = self._ended_key is not None and not state.is_hyper_param_search
        if reopen:
            options.update(mode="get", experiment_key=self._ended_key)
        experiment_config = comet.ExperimentConfig(
            name=args.run_name, offline_directory=os.getenv("COMET_OFFLINE_DIRECTORY")
        )
        self._experiment = comet.start(experiment_config=experiment_config, **options)
        if reopen:
            return  # parameters and graph are already in that experiment
        if model is not None:
            self._experiment.set_model_graph(model)
        self._experiment.log_parameters(_parameters(args, model), nested_support=True)
        if state.is_hyper_param_search:
            self._experiment.log_optimization(
                optimization_id=state.trial_name, parameters=state.trial_params
            )

    def _log(self, logs: dict[str, Any], state: TrainerState) -> None:
        # No experiment when COMET_MODE turned logging off.
        if self._experiment is not None:
            self._experiment.log_metrics(
                rewrite_logs(logs), step=state.global_step, epoch=state.epoch
            )

    def _log_prediction(self, metrics: dict[str, Any], state: TrainerState) -> None:
        self._log(metrics, state)

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        experiment = self._experiment
        if not self._initialized or not state.is_world_process_zero or experiment is None:
            return
        if self._log_assets:
            logger.info("Logging checkpoints. This may take time.")
            experiment.log_asset_folder(
                args.output_dir, recursive=True, log_file_name=True, step=state.global_step
            )
        # Ending uploads everything (online) or writes the offline zip, before train() returns.
        experiment.end()
        self._ended_key = None if state.is_hyper_param_search else experiment.get_key()
        self._experiment = None
        self._initialized = False


def _parameters(args: Any, model: Any) -> dict[str, Any]:
    """`args` (and the model's `config` / `peft_config`) nested, as transformers logs them."""
    params: dict[str, Any] = {"args": args.to_dict()}
    config = getattr(model, "config", None)
    if config is not None:
        params["config"] = config if isinstance(config, dict) else config.to_dict()
    peft_config = getattr(model, "peft_config", None)
    if peft_config is not None:
        params["peft_config"] = peft_config
    return params
