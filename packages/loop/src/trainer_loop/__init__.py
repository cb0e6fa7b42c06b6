"""The Trainer: training, evaluation, prediction, callbacks, optimizers, schedulers and checkpoints.

Names are loaded on first use (PEP 562), so `import trainer_loop` stays light: torch,
accelerate and the Trainer are imported only when one of these names is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainer_loop._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Trainer": "trainer_loop.trainer",
    "TrainerCallback": "trainer_loop.callbacks.base",
    "CallbackHandler": "trainer_loop.callbacks.handler",
    "DefaultFlowCallback": "trainer_loop.callbacks.flow",
    "ProgressCallback": "trainer_loop.callbacks.progress",
    "PrinterCallback": "trainer_loop.callbacks.progress",
    "EarlyStoppingCallback": "trainer_loop.callbacks.early_stopping",
    "TrainerState": "trainer_loop.state",
    "TrainerControl": "trainer_loop.state",
    "ExportableState": "trainer_loop.state",
    "EvalPrediction": "trainer_loop.outputs",
    "PredictionOutput": "trainer_loop.outputs",
    "EvalLoopOutput": "trainer_loop.outputs",
    "TrainOutput": "trainer_loop.outputs",
    "BestRun": "trainer_loop.outputs",
    "ModelOutput": "trainer_loop.outputs",
    "get_scheduler": "trainer_loop.schedulers",
    "get_constant_schedule": "trainer_loop.schedulers",
    "get_constant_schedule_with_warmup": "trainer_loop.schedulers",
    "get_cosine_schedule_with_warmup": "trainer_loop.schedulers",
    "get_cosine_with_hard_restarts_schedule_with_warmup": "trainer_loop.schedulers",
    "get_linear_schedule_with_warmup": "trainer_loop.schedulers",
    "get_polynomial_decay_schedule_with_warmup": "trainer_loop.schedulers",
    "get_inverse_sqrt_schedule": "trainer_loop.schedulers",
    "Adafactor": "trainer_loop.optim.adafactor",
    "get_optimizer_cls_and_kwargs": "trainer_loop.optim",
    "get_decay_parameter_names": "trainer_loop.optim",
    "default_data_collator": "trainer_loop.data",
    "LengthGroupedSampler": "trainer_loop.data",
    "RemoveColumnsCollator": "trainer_loop.data",
    "LabelSmoother": "trainer_loop.losses",
    "metrics_format": "trainer_loop.metrics",
    "speed_metrics": "trainer_loop.metrics",
    "get_last_checkpoint": "trainer_loop.checkpoints",
    "PREFIX_CHECKPOINT_DIR": "trainer_loop.checkpoints",
}

__all__ = [
    "PREFIX_CHECKPOINT_DIR",
    "Adafactor",
    "BestRun",
    "CallbackHandler",
    "DefaultFlowCallback",
    "EarlyStoppingCallback",
    "EvalLoopOutput",
    "EvalPrediction",
    "ExportableState",
    "LabelSmoother",
    "LengthGroupedSampler",
    "ModelOutput",
    "PredictionOutput",
    "PrinterCallback",
    "ProgressCallback",
    "RemoveColumnsCollator",
    "TrainOutput",
    "Trainer",
    "TrainerCallback",
    "TrainerControl",
    "TrainerState",
    "__version__",
    "default_data_collator",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_decay_parameter_names",
    "get_inverse_sqrt_schedule",
    "get_last_checkpoint",
    "get_linear_schedule_with_warmup",
    "get_optimizer_cls_and_kwargs",
    "get_polynomial_decay_schedule_with_warmup",
    "get_scheduler",
    "metrics_format",
    "speed_metrics",
]

if TYPE_CHECKING:
    from trainer_loop.callbacks.base import TrainerCallback
    from trainer_loop.callbacks.early_stopping import EarlyStoppingCallback
    from trainer_loop.callbacks.flow import DefaultFlowCallback
    from trainer_loop.callbacks.handler import CallbackHandler
    from trainer_loop.callbacks.progress import PrinterCallback, ProgressCallback
    from trainer_loop.checkpoints import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
    from trainer_loop.data import LengthGroupedSampler, RemoveColumnsCollator, default_data_collator
    from trainer_loop.losses import LabelSmoother
    from trainer_loop.metrics import metrics_format, speed_metrics
    from trainer_loop.optim import get_decay_parameter_names, get_optimizer_cls_and_kwargs
    from trainer_loop.optim.adafactor import Adafactor
    from trainer_loop.outputs import (
        BestRun,
        EvalLoopOutput,
        EvalPrediction,
        ModelOutput,
        PredictionOutput,
        TrainOutput,
    )
    from trainer_loop.schedulers import (
        get_constant_schedule,
        get_constant_schedule_with_warmup,
        get_cosine_schedule_with_warmup,
        get_cosine_with_hard_restarts_schedule_with_warmup,
        get_inverse_sqrt_schedule,
        get_linear_schedule_with_warmup,
        get_polynomial_decay_schedule_with_warmup,
        get_scheduler,
    )
    from trainer_loop.state import ExportableState, TrainerControl, TrainerState
    from trainer_loop.trainer import Trainer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainer_loop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
