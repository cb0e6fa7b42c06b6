"""`report_to` names -> callback classes, as transformers' `get_reporting_integration_callbacks`.

Built in: `tensorboard`, `mlflow`, `wandb`, `trackio`, `comet_ml`, plus two of our own,
`jsonl` and `csv` (files in `output_dir`). The other transformers names are accepted: requested while their
package is missing, they fail at Trainer init with an error naming the package; installed,
they log a warning that trainer has no integration for them and do nothing (so
`report_to="all"` never breaks a run). An unknown name raises ValueError.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.reporting.common import is_installed, missing_package_error

__all__ = [
    "REPORT_TO_NAMES",
    "get_available_reporting_integrations",
    "get_reporting_integration_callbacks",
    "resolve_report_to",
]

logger = logging.getLogger(__name__)

# integration -> (module to import, pip distribution) for the ones without a callback here.
_UNSUPPORTED: dict[str, tuple[str, str]] = {
    "azure_ml": ("azureml.core", "azureml-core"),
    "neptune": ("neptune", "neptune"),
    "codecarbon": ("codecarbon", "codecarbon"),
    "clearml": ("clearml", "clearml"),
    "dagshub": ("dagshub", "dagshub"),
    "flyte": ("flytekit", "flytekit"),
    "dvclive": ("dvclive", "dvclive"),
    "swanlab": ("swanlab", "swanlab"),
    "kubeflow": ("kubeflow", "kubeflow"),
}


def _unsupported_callback(integration: str) -> type[TrainerCallback]:
    module, pip_name = _UNSUPPORTED[integration]

    class _Unsupported(TrainerCallback):
        def __init__(self) -> None:
            if integration != "kubeflow" and not is_installed(module):
                raise missing_package_error(integration, module, pip_name)
            logger.warning(
                f"report_to contains {integration!r}: trainer has no {integration} integration, so "
                "nothing is sent there. Use 'tensorboard', 'mlflow', 'wandb', 'trackio', 'comet_ml', "
                "'jsonl' or 'csv'."
            )

    _Unsupported.__name__ = _Unsupported.__qualname__ = f"Unsupported{integration.title()}Callback"
    return _Unsupported


def _lazy(module: str, name: str) -> Callable[[], type[TrainerCallback]]:
    # The tracker modules import their package only when the callback is built.
    return lambda: getattr(importlib.import_module(f"trainer_loop.reporting.{module}"), name)


_LOADERS: dict[str, Callable[[], type[TrainerCallback]]] = {
    "azure_ml": lambda: _unsupported_callback("azure_ml"),
    "comet_ml": _lazy("comet", "CometCallback"),
    "mlflow": _lazy("mlflow", "MLflowCallback"),
    "neptune": lambda: _unsupported_callback("neptune"),
    "tensorboard": _lazy("tensorboard", "TensorBoardCallback"),
    "trackio": _lazy("trackio", "TrackioCallback"),
    "wandb": _lazy("wandb", "WandbCallback"),
    "codecarbon": lambda: _unsupported_callback("codecarbon"),
    "clearml": lambda: _unsupported_callback("clearml"),
    "dagshub": lambda: _unsupported_callback("dagshub"),
    "flyte": lambda: _unsupported_callback("flyte"),
    "dvclive": lambda: _unsupported_callback("dvclive"),
    "swanlab": lambda: _unsupported_callback("swanlab"),
    "kubeflow": lambda: _unsupported_callback("kubeflow"),
    "jsonl": _lazy("files", "JSONLCallback"),
    "csv": _lazy("files", "CSVCallback"),
}


# Every name `report_to` accepts, in transformers' order, then ours.
REPORT_TO_NAMES: tuple[str, ...] = tuple(_LOADERS)


def get_available_reporting_integrations() -> list[str]:
    """What `report_to="all"` means: the installed integrations, in transformers' order."""
    from trainer_args.integrations import available_reporting_integrations

    names = available_reporting_integrations()
    if "comet_ml" in names and not _comet_configured():
        # As transformers: without an API key "all" leaves Comet out rather than fail online.
        logger.warning(
            "comet_ml is installed but the Comet API Key is not configured, so report_to='all' "
            "leaves it out. Set `COMET_API_KEY`, or ask for report_to='comet_ml' explicitly."
        )
        names.remove("comet_ml")
    return names


def _comet_configured() -> bool:
    if os.getenv("COMET_API_KEY"):
        return True
    try:  # the key may also sit in Comet's config files, which only comet_ml reads
        comet_ml: Any = importlib.import_module("comet_ml")
        return comet_ml.config.get_config("comet.api_key") is not None
    except Exception:  # a broken comet_ml install: leave it out of "all"
        return False


def resolve_report_to(report_to: Any) -> list[str]:
    """Normalise `report_to` (None, "none", "all", a name or a list) to validated names."""
    if report_to is None:
        return []
    if isinstance(report_to, str):
        report_to = [report_to]
    names: list[str] = []
    for name in report_to:
        if name == "none":
            continue
        if name == "all":
            names += get_available_reporting_integrations()
            continue
        if name not in _LOADERS:
            raise ValueError(f"{name} is not supported, only {', '.join(_LOADERS)} are supported.")
        names.append(name)
    return names


def get_reporting_integration_callbacks(report_to: Any) -> list[type[TrainerCallback]]:
    """The callback classes for `report_to` (the Trainer instantiates them, in this order)."""
    return [_LOADERS[name]() for name in resolve_report_to(report_to)]
