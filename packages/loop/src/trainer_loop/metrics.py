"""Metric helpers: speed metrics, JSON-friendly values, and the human-readable report format."""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import Any

import numpy as np
import torch

__all__ = [
    "denumpify_detensorize",
    "format_metrics_lines",
    "metrics_format",
    "save_metrics_json",
    "speed_metrics",
]


def speed_metrics(
    split: str,
    start_time: float,
    num_samples: float | None = None,
    num_steps: float | None = None,
    num_tokens: float | None = None,
) -> dict[str, float]:
    """`{split}_runtime` (4 places) and per-second rates (3 places) since `start_time`."""
    runtime = time.time() - start_time
    result = {f"{split}_runtime": round(runtime, 4)}
    if runtime == 0:
        return result
    if num_samples is not None:
        result[f"{split}_samples_per_second"] = round(num_samples / runtime, 3)
    if num_steps is not None:
        result[f"{split}_steps_per_second"] = round(num_steps / runtime, 3)
    if num_tokens is not None:
        result[f"{split}_tokens_per_second"] = round(num_tokens / runtime, 3)
    return result


def denumpify_detensorize(metrics: Any) -> Any:
    """Turn numpy scalars and one-element tensors (recursively) into Python numbers."""
    if isinstance(metrics, (list, tuple)):
        return type(metrics)(denumpify_detensorize(m) for m in metrics)
    if isinstance(metrics, dict):
        return type(metrics)({k: denumpify_detensorize(v) for k, v in metrics.items()})
    if isinstance(metrics, np.generic):
        return metrics.item()
    if isinstance(metrics, torch.Tensor) and metrics.numel() == 1:
        return metrics.item()
    return metrics


def _secs2timedelta(secs: float) -> str:
    msec = int(abs(secs - int(secs)) * 100)
    return f"{datetime.timedelta(seconds=int(secs))}.{msec:02d}"


def metrics_format(metrics: dict[str, Any]) -> dict[str, Any]:
    """Human-readable copy: memory in MB, runtimes as h:mm:ss.cc, FLOPs in GF, floats to 4 places."""
    formatted = metrics.copy()
    for key, value in formatted.items():
        if "_mem_" in key:
            formatted[key] = f"{int(value) >> 20}MB"
        elif "_runtime" in key:
            formatted[key] = _secs2timedelta(value)
        elif key == "total_flos":
            formatted[key] = f"{int(value) >> 30}GF"
        elif isinstance(value, float):
            formatted[key] = round(value, 4)
    return formatted


def format_metrics_lines(split: str, metrics: dict[str, Any]) -> list[str]:
    """The lines `Trainer.log_metrics` prints: a header, then sorted, aligned `key = value` lines."""
    formatted = metrics_format(metrics)
    lines = [f"***** {split} metrics *****"]
    if not formatted:
        return lines
    k_width = max(len(str(k)) for k in formatted)
    v_width = max(len(str(v)) for v in formatted.values())
    for key in sorted(formatted):
        lines.append(f"  {key: <{k_width}} = {formatted[key]:>{v_width}}")
    return lines


def save_metrics_json(
    output_dir: str, split: str, metrics: dict[str, Any], combined: bool = True
) -> None:
    """Write `{split}_results.json` and, when combined, merge into `all_results.json`."""
    path = os.path.join(output_dir, f"{split}_results.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=4, sort_keys=True)
    if not combined:
        return
    path = os.path.join(output_dir, "all_results.json")
    all_metrics: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            all_metrics = json.load(f)
    all_metrics.update(metrics)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(all_metrics, f, indent=4, sort_keys=True)
