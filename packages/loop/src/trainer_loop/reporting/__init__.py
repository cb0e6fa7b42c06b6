"""Reporting: `report_to` resolution and the logging callbacks (files, TensorBoard, trackers).

Tracker modules (`tensorboard`, `mlflow`, `wandb`, `trackio`, `comet`) are imported only when
their callback is requested, so importing this package needs none of those packages.
"""

from trainer_loop.reporting.common import default_logdir, rewrite_logs
from trainer_loop.reporting.files import CSVCallback, JSONLCallback
from trainer_loop.reporting.registry import (
    REPORT_TO_NAMES,
    get_available_reporting_integrations,
    get_reporting_integration_callbacks,
    resolve_report_to,
)
from trainer_loop.reporting.throughput import (
    ThroughputMeter,
    peak_flops_per_second,
    throughput_metrics,
    training_flops_per_token,
)

__all__ = [
    "REPORT_TO_NAMES",
    "CSVCallback",
    "JSONLCallback",
    "ThroughputMeter",
    "default_logdir",
    "get_available_reporting_integrations",
    "get_reporting_integration_callbacks",
    "peak_flops_per_second",
    "resolve_report_to",
    "rewrite_logs",
    "throughput_metrics",
    "training_flops_per_token",
]


def __getattr__(name: str) -> object:
    # The tracker callbacks without importing their modules (and packages) eagerly.
    lazy = {
        "TensorBoardCallback": "tensorboard",
        "MLflowCallback": "mlflow",
        "WandbCallback": "wandb",
        "TrackioCallback": "trackio",
        "CometCallback": "comet",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"trainer_loop.reporting.{lazy[name]}"), name)
    raise AttributeError(f"module 'trainer_loop.reporting' has no attribute {name!r}")
