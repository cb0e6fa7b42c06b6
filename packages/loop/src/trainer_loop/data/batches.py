"""Batches: moving a nested batch to the device, and finding its size."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["find_batch_size", "prepare_input", "rebuild_mapping"]


def rebuild_mapping(mapping: Mapping[str, Any], values: dict[str, Any]) -> Any:
    """A mapping of the same type (dict, BatchEncoding, ...) holding `values`."""
    cls: Any = type(mapping)
    return cls(values)


def prepare_input(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move a (nested) batch to `device`, keeping container types."""
    if type(data) is dict:
        # The usual batch, a plain dict of tensors: one pass without a call per value.
        return {
            k: v
            if isinstance(v, torch.Tensor) and v.device == device
            else prepare_input(v, device, non_blocking)
            for k, v in data.items()
        }
    if isinstance(data, Mapping):
        return rebuild_mapping(
            data, {k: prepare_input(v, device, non_blocking) for k, v in data.items()}
        )
    if isinstance(data, (tuple, list)):
        return type(data)(prepare_input(v, device, non_blocking) for v in data)
    if isinstance(data, torch.Tensor):
        if data.device == device:
            return data
        return data.to(device=device, non_blocking=non_blocking)
    return data


def find_batch_size(tensors: Any) -> int | None:
    """The first dimension of the first tensor found in a nested batch."""
    if isinstance(tensors, (list, tuple)):
        for t in tensors:
            result = find_batch_size(t)
            if result is not None:
                return result
    elif isinstance(tensors, Mapping):
        for value in tensors.values():
            result = find_batch_size(value)
            if result is not None:
                return result
    elif isinstance(tensors, (torch.Tensor, np.ndarray)):
        return tensors.shape[0] if len(tensors.shape) >= 1 else None
    return None
