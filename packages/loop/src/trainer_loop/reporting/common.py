"""Helpers shared by the reporting callbacks."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from datetime import datetime
from typing import Any

__all__ = [
    "default_logdir",
    "is_installed",
    "missing_package_error",
    "numeric_value",
    "rewrite_logs",
]

logger = logging.getLogger(__name__)


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """Tracker tags as transformers names them: `eval_x` -> `eval/x`, `test_x` -> `test/x`, else `train/x`."""
    rewritten: dict[str, Any] = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            rewritten["eval/" + key[len("eval_") :]] = value
        elif key.startswith("test_"):
            rewritten["test/" + key[len("test_") :]] = value
        else:
            rewritten["train/" + key] = value
    return rewritten


def default_logdir() -> str:
    """`runs/<Mon DD_HH-MM-SS>_<host>`, the folder name PyTorch's SummaryWriter would pick."""
    stamp = datetime.now().strftime("%b%d_%H-%M-%S")
    return os.path.join("runs", stamp + "_" + socket.gethostname())


def is_installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_package_error(
    integration: str, module: str, pip_name: str | None = None
) -> RuntimeError:
    return RuntimeError(
        f"report_to={integration!r} needs the `{module}` package, which is not installed. "
        f"Install it with `pip install {pip_name or module}`, or remove {integration!r} from report_to."
    )


def numeric_value(value: Any) -> float | int | None:
    """A loggable number: Python ints/floats, or one-element tensors/numpy scalars; else None."""
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    numel = getattr(value, "numel", None)
    one = (callable(numel) and numel() == 1) or size == 1 or size == ()
    if callable(item) and one:
        result = item()
        if isinstance(result, (int, float)):
            return result
    return None
