"""Seeding and determinism: python `random`, numpy, torch on every device."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

# Accelerator back-ends besides CUDA that torch (or its plugins) may expose.
_OTHER_ACCELERATORS = ("xpu", "mlu", "musa", "npu", "hpu")


def _available_modules() -> list[Any]:
    """torch.<backend> modules whose devices exist here (cuda included)."""
    modules = []
    for name in ("cuda", *_OTHER_ACCELERATORS):
        module = getattr(torch, name, None)
        is_available = getattr(module, "is_available", None)
        if module is not None and callable(is_available) and is_available():
            modules.append(module)
    return modules


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed `random`, numpy and torch (CPU and every accelerator) with `seed`.

    `deterministic=True` also makes torch use deterministic algorithms (slower).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy only takes 32-bit seeds
    torch.manual_seed(seed)  # also seeds CUDA and MPS in recent torch
    for module in _available_modules():
        module.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)


def enable_full_determinism(seed: int, warn_only: bool = False) -> None:
    """Seed everything and make torch, cuBLAS, cuDNN and NCCL/HCCL runs reproducible.

    Sets the same environment variables as transformers (they must be set before the
    first CUDA call to take effect in this process; child processes inherit them).
    """
    set_seed(seed)
    os.environ["CUDA_LAUNCH_BLOCKING"] = "1"
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
    os.environ["ASCEND_LAUNCH_BLOCKING"] = "1"
    os.environ["HCCL_DETERMINISTIC"] = "1"
    os.environ["FLASH_ATTENTION_DETERMINISTIC"] = "1"
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def seed_worker(worker_id: int, num_workers: int = 1, rank: int = 0) -> None:
    """`worker_init_fn` for DataLoader workers: distinct, reproducible seeds per worker and rank.

    torch already gives each worker `base_seed + worker_id`; offsetting by
    `num_workers * rank` keeps ranks apart (bind with functools.partial).
    """
    del worker_id  # already part of torch.initial_seed() inside the worker
    set_seed(num_workers * rank + torch.initial_seed() % 2**32)


def sampler_seed(args: Any) -> int:
    """The seed of the data order: `data_seed` when set, else `seed`."""
    data_seed = getattr(args, "data_seed", None)
    return int(data_seed if data_seed is not None else args.seed)


def sampler_generator(args: Any) -> torch.Generator:
    """A CPU generator for the train sampler, seeded with `sampler_seed(args)`."""
    generator = torch.Generator()
    generator.manual_seed(sampler_seed(args))
    return generator


def seed_everything_from_args(args: Any) -> None:
    """What a Trainer does at init: full determinism if asked, else `set_seed(args.seed)`."""
    if getattr(args, "full_determinism", False):
        enable_full_determinism(args.seed)
    else:
        set_seed(args.seed)
