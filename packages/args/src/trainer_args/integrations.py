"""Which reporting integrations are installed (for `report_to="all"`), found without importing them."""

from __future__ import annotations

import importlib.util
import os

__all__ = ["available_reporting_integrations", "kubeflow_available"]


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


def _env_true(name: str) -> bool:
    return os.getenv(name, "FALSE").upper() == "TRUE"


def kubeflow_available() -> bool:
    """Whether the run is under a Kubeflow Trainer that takes progress reports.

    True when `KUBEFLOW_TRAINER_SERVER_URL` is set and `DISABLE_KUBEFLOW_INTEGRATION` is not
    `TRUE`; `report_to` then gets `"kubeflow"` added, as in transformers.
    """
    if _env_true("DISABLE_KUBEFLOW_INTEGRATION"):
        return False
    return os.getenv("KUBEFLOW_TRAINER_SERVER_URL") is not None


def _mlflow() -> bool:
    return not _env_true("DISABLE_MLFLOW_INTEGRATION") and _installed("mlflow")


def available_reporting_integrations() -> list[str]:
    """Same names and order as transformers' get_available_reporting_integrations."""
    checks = [
        ("azure_ml", _installed("azureml", "azureml.core", "azureml.core.run") and not _mlflow()),
        ("comet_ml", _installed("comet_ml")),
        ("dagshub", _installed("dagshub", "mlflow")),
        ("dvclive", _installed("dvclive")),
        ("mlflow", _mlflow()),
        ("neptune", _installed("neptune")),
        ("tensorboard", _installed("tensorboard") or _installed("tensorboardX")),
        ("wandb", _installed("wandb")),
        ("codecarbon", _installed("codecarbon")),
        ("clearml", _installed("clearml")),
        ("swanlab", _installed("swanlab")),
        ("trackio", _installed("trackio")),
        ("kubeflow", kubeflow_available()),
    ]
    return [name for name, ok in checks if ok]
