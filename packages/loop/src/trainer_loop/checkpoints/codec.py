"""Nested state dicts as JSON plus a table of tensors (safetensors), never pickle.

`state_dict()` of an optimizer, scheduler or GradScaler is a tree of dicts, lists,
tuples, numbers, strings and tensors. Tensors go to a safetensors file under a key
made of their path; the tree goes to strict JSON where each tensor is replaced by a
reference. JSON lacks tuples, non-finite floats and non-string dict keys: those are
tagged with the same tags as `trainer_loop.schedulers.state_json`, so either module
reads the other's files. Python writes floats with the shortest repr that round-trips,
so every bit survives.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from trainer_loop.checkpoints.file_errors import reading, writing

FLOAT_TAG = "__float__"
TUPLE_TAG = "__tuple__"
ITEMS_TAG = "__items__"
TENSOR_TAG = "__tensor__"
FORMAT_VERSION = 1
_TAGS = (FLOAT_TAG, TUPLE_TAG, ITEMS_TAG, TENSOR_TAG)


def encode(value: Any, tensors: dict[str, torch.Tensor], path: str = "") -> Any:
    """`value` as JSON-able data; tensors found on the way are added to `tensors`."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {FLOAT_TAG: repr(value)}
    if isinstance(value, torch.Tensor):
        key = path or "/"
        tensors[key] = value.detach()  # moved to the CPU shard by shard when written
        return {TENSOR_TAG: key}
    if isinstance(value, tuple):
        return {TUPLE_TAG: [encode(v, tensors, f"{path}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, tensors, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _encode_dict(value, tensors, path)
    raise TypeError(
        f"The state at {path or '/'} is a {type(value).__module__}.{type(value).__qualname__}, "
        "which has no JSON or safetensors form; only None, bool, int, float, str, list, tuple, "
        "dict and torch.Tensor values can be checkpointed without pickle."
    )


def _encode_dict(value: dict[Any, Any], tensors: dict[str, torch.Tensor], path: str) -> Any:
    plain_keys = all(isinstance(k, str) and "/" not in k for k in value)
    # A real one-key dict named like a tag would be misread when loading: store it as items.
    looks_tagged = len(value) == 1 and next(iter(value)) in _TAGS
    if plain_keys and not looks_tagged:
        return {k: encode(v, tensors, f"{path}/{k}") for k, v in value.items()}
    items = []
    for i, (k, v) in enumerate(value.items()):
        # Keys are usually ints (optimizer parameter ids): keep them readable in tensor names.
        sub = f"{path}/{k}" if isinstance(k, int) and not isinstance(k, bool) else f"{path}/<{i}>"
        items.append([encode(k, tensors, f"{path}/<key{i}>"), encode(v, tensors, sub)])
    return {ITEMS_TAG: items}


def decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `encode`."""
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == FLOAT_TAG:
            return float(inner)
        if key == TUPLE_TAG:
            return tuple(decode(v, tensors) for v in inner)
        if key == ITEMS_TAG:
            return {decode(k, tensors): decode(v, tensors) for k, v in inner}
        if key == TENSOR_TAG:
            return tensors[inner]
    return {k: decode(v, tensors) for k, v in value.items()}


# Tensors are copied to host memory one shard at a time: a large optimizer state on GPUs
# never needs a second full copy in RAM (torch.save streams storages in the same spirit).
MAX_SHARD_BYTES = 4 * 1024**3


def _shards(tensors: dict[str, torch.Tensor], max_bytes: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    size = 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if groups[-1] and size + nbytes > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += nbytes
    return groups


def _write_tensors(
    tensors: dict[str, torch.Tensor], tensors_path: Path, max_bytes: int
) -> list[str]:
    """Save the tensors as `tensors_path`, or as numbered shards beside it; returns the names."""
    groups = _shards(tensors, max_bytes)
    if len(groups) == 1:
        names = [tensors_path.name]
    else:
        stem, count = tensors_path.stem, len(groups)
        names = [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]
    for name, keys in zip(names, groups):
        shard = {key: tensors[key].cpu().contiguous() for key in keys}
        with writing(tensors_path.with_name(name)):
            save_file(shard, str(tensors_path.with_name(name)), metadata={"format": "pt"})
    return names


def write_state(
    json_path: Path, tensors_path: Path, state: Any, max_shard_bytes: int = MAX_SHARD_BYTES
) -> None:
    """Write `state` as `json_path` (+ `tensors_path`, or its shards, when it holds tensors)."""
    tensors: dict[str, torch.Tensor] = {}
    document: dict[str, Any] = {"format_version": FORMAT_VERSION, "state": encode(state, tensors)}
    if tensors:
        document["tensor_files"] = _write_tensors(tensors, tensors_path, max_shard_bytes)
    with writing(json_path):
        json_path.write_text(json.dumps(document, allow_nan=False) + "\n", encoding="utf-8")


def read_state(json_path: Path, tensors_path: Path, device: str = "cpu") -> Any:
    """Read what `write_state` wrote."""
    with reading(json_path):
        document = json.loads(json_path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path} is not a state file of format version {FORMAT_VERSION}")
    tensors: dict[str, torch.Tensor] = {}
    for name in document.get("tensor_files", []):
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise ValueError(f"{json_path} names a tensor file outside its folder: {name!r}")
        with reading(json_path.with_name(name)):
            tensors.update(load_file(str(json_path.with_name(name)), device=device))
    return decode(document["state"], tensors)
