"""Capture and restore every RNG of a process; files are safetensors + JSON metadata, never pickle.

One file per process (`rng_state_<process>.safetensors` in a checkpoint). Tensors:
`python.mt` and `numpy.keys` (Mersenne-Twister words as int64), `torch.cpu`, and one
`<device>.<index>` byte tensor per accelerator (cuda, xpu, npu, mlu, musa, mps). The rest
(versions, positions, cached gaussians) is JSON in the safetensors metadata.
"""

from __future__ import annotations

import json
import logging
import os
import random
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

_METADATA_KEY = "trainer_dist.rng_state"
_FORMAT_VERSION = 1
# Accelerators with per-device `get_rng_state_all` / `set_rng_state_all`.
_MULTI_DEVICE_BACKENDS = ("cuda", "xpu", "npu", "mlu", "musa")


def rng_state_filename(process_index: int | None = None) -> str:
    """`rng_state_<process>.safetensors`, or `rng_state.safetensors` without an index."""
    if process_index is None:
        return "rng_state.safetensors"
    return f"rng_state_{process_index}.safetensors"


def _backend(name: str) -> Any:
    module = getattr(torch, name, None)
    is_available = getattr(module, "is_available", None)
    if module is not None and callable(is_available) and is_available():
        return module
    return None


def capture_rng_state() -> dict[str, Any]:
    """Every RNG state of this process, in memory (python objects and CPU tensors)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "cpu": torch.get_rng_state(),
    }
    for name in _MULTI_DEVICE_BACKENDS:
        module = _backend(name)
        if module is not None:
            state[name] = [t.cpu() for t in module.get_rng_state_all()]
    if torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def _restore_devices(name: str, saved: list[torch.Tensor]) -> None:
    module = _backend(name)
    if module is None:
        logger.warning("RNG state for %s devices found but no %s device here; skipped.", name, name)
        return
    count = module.device_count()
    if len(saved) != count:
        logger.warning(
            "RNG state saved for %d %s devices, %d present; restoring the first %d.",
            len(saved),
            name,
            count,
            min(len(saved), count),
        )
    for index, tensor in enumerate(saved[:count]):
        module.set_rng_state(tensor, index)


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the RNG states of `capture_rng_state` (or `load_rng_state(restore=False)`)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["cpu"])
    for name in _MULTI_DEVICE_BACKENDS:
        if name in state:
            _restore_devices(name, state[name])
    if "mps" in state:
        if torch.backends.mps.is_available():
            torch.mps.set_rng_state(state["mps"])
        else:
            logger.warning("RNG state for mps found but no mps device here; skipped.")


def _to_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split a captured state into safetensors tensors and JSON-able metadata."""
    py_version, py_words, py_gauss = state["python"]
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    tensors = {
        "python.mt": torch.tensor(py_words, dtype=torch.int64),
        "numpy.keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "torch.cpu": state["cpu"].contiguous(),
    }
    meta: dict[str, Any] = {
        "format_version": _FORMAT_VERSION,
        "python": {"version": py_version, "gauss_next": py_gauss},
        "numpy": {"name": np_name, "pos": int(np_pos), "has_gauss": int(np_has_gauss)},
        "numpy_cached_gaussian": float(np_gauss),
        "devices": {},
    }
    for name in (*_MULTI_DEVICE_BACKENDS, "mps"):
        if name not in state:
            continue
        saved = state[name] if isinstance(state[name], list) else [state[name]]
        meta["devices"][name] = len(saved)
        for index, tensor in enumerate(saved):
            tensors[f"{name}.{index}"] = tensor.cpu().contiguous()
    return tensors, meta


def save_rng_state(path: str | os.PathLike[str], state: dict[str, Any] | None = None) -> None:
    """Write `state` (default: the current RNG states) to a safetensors file at `path`."""
    from safetensors.torch import save_file

    tensors, meta = _to_tensors(capture_rng_state() if state is None else state)
    # json keeps floats exact (repr round-trips), so cached gaussians survive
    save_file(tensors, os.fspath(path), metadata={_METADATA_KEY: json.dumps(meta)})


def _from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    words = tuple(int(w) for w in tensors["python.mt"].tolist())
    state: dict[str, Any] = {
        "python": (meta["python"]["version"], words, meta["python"]["gauss_next"]),
        "numpy": (
            meta["numpy"]["name"],
            tensors["numpy.keys"].numpy().astype(np.uint32),
            meta["numpy"]["pos"],
            meta["numpy"]["has_gauss"],
            meta["numpy_cached_gaussian"],
        ),
        "cpu": tensors["torch.cpu"],
    }
    for name, count in meta["devices"].items():
        saved = [tensors[f"{name}.{index}"] for index in range(count)]
        state[name] = saved[0] if name == "mps" else saved
    return state


def load_rng_state(path: str | os.PathLike[str], restore: bool = True) -> dict[str, Any]:
    """Read a file written by `save_rng_state` (no pickle involved) and, by default, restore it."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
    if _METADATA_KEY not in metadata:
        raise ValueError(f"{os.fspath(path)} is not an RNG state file written by trainer_dist")
    state = _from_tensors(tensors, json.loads(metadata[_METADATA_KEY]))
    if restore:
        restore_rng_state(state)
    return state
