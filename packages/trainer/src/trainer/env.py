"""`trainer env`: what a bug report needs: every layer's version, Python, platform, devices."""

from __future__ import annotations

import platform
import sys
from typing import Any

from trainer import versions

__all__ = ["device_info", "environment", "format_environment"]


def device_info() -> dict[str, str]:
    """CUDA devices (count and names) and whether MPS is available; torch imported here."""
    try:
        import torch
    except ImportError:
        return {"devices": "torch is not installed"}
    info: dict[str, str] = {}
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    info["CUDA available"] = str(count > 0)
    info["CUDA devices"] = str(count)
    for index in range(count):
        info[f"  cuda:{index}"] = torch.cuda.get_device_name(index)
    if count:
        info["CUDA version"] = str(torch.version.cuda)
    mps = getattr(torch.backends, "mps", None)
    info["MPS available"] = str(bool(mps is not None and mps.is_available()))
    info["torch threads"] = str(torch.get_num_threads())
    return info


def environment() -> dict[str, str]:
    """Ordered report: package versions, then Python and platform, then devices."""
    report: dict[str, str] = dict(versions())
    report["python"] = f"{platform.python_version()} ({sys.executable})"
    report["platform"] = platform.platform()
    report.update(device_info())
    return report


def format_environment(report: dict[str, Any]) -> str:
    """`key: value` lines aligned on the colon, ready to paste into an issue."""
    width = max(len(key) for key in report)
    return "\n".join(f"- {key + ':':<{width + 1}} {value}" for key, value in report.items())
