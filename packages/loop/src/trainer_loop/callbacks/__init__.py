"""Callbacks: the event protocol, the default flow, progress display and early stopping."""

from trainer_loop.callbacks.base import EVENTS, TrainerCallback
from trainer_loop.callbacks.early_stopping import EarlyStoppingCallback
from trainer_loop.callbacks.flow import DefaultFlowCallback
from trainer_loop.callbacks.handler import CallbackHandler
from trainer_loop.callbacks.progress import PrinterCallback, ProgressCallback

__all__ = [
    "EVENTS",
    "CallbackHandler",
    "DefaultFlowCallback",
    "EarlyStoppingCallback",
    "PrinterCallback",
    "ProgressCallback",
    "TrainerCallback",
]
