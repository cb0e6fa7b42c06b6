"""Shared fixtures: TrainingArguments on the CPU and a clean accelerate state per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from trainer_args import TrainingArguments
from trainer_dist.devices import reset_accelerate_state

_ENV_KEYS = (
    "ACCELERATE_USE_FSDP",
    "FSDP_CPU_RAM_EFFICIENT_LOADING",
    "CUDA_LAUNCH_BLOCKING",
    "CUBLAS_WORKSPACE_CONFIG",
    "ASCEND_LAUNCH_BLOCKING",
    "HCCL_DETERMINISTIC",
    "FLASH_ATTENTION_DETERMINISTIC",
)


@pytest.fixture(autouse=True)
def clean_process_state() -> Iterator[None]:
    """accelerate singletons, env flags and torch determinism are process-wide: restore them."""
    env = {key: os.environ.get(key) for key in _ENV_KEYS}
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    reset_accelerate_state(reset_partial_state=True)
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic)  # slow the first time: only if changed


@pytest.fixture
def make_args(tmp_path: Any) -> Callable[..., TrainingArguments]:
    """TrainingArguments for a CPU run in a temporary output folder."""

    def make(**overrides: Any) -> TrainingArguments:
        overrides.setdefault("use_cpu", True)
        overrides.setdefault("report_to", "none")
        return TrainingArguments(output_dir=str(tmp_path / "out"), **overrides)

    return make
