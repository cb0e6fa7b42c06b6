"""set_seed / enable_full_determinism / seed_worker / sampler seeds."""

from __future__ import annotations

import os
import random
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from trainer_dist.seeding import (
    enable_full_determinism,
    sampler_generator,
    sampler_seed,
    seed_worker,
    set_seed,
)


def _draws() -> tuple[Any, ...]:
    return (random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist())


def test_set_seed_makes_every_generator_repeat() -> None:
    set_seed(123)
    first = _draws()
    set_seed(123)
    assert _draws() == first
    set_seed(124)
    assert _draws() != first


def test_set_seed_deterministic_turns_on_deterministic_algorithms() -> None:
    set_seed(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()


def test_set_seed_accepts_seeds_beyond_32_bits() -> None:
    set_seed(2**40 + 5)
    first = _draws()
    set_seed(2**40 + 5)
    assert _draws() == first


def test_enable_full_determinism_sets_the_environment_and_torch_flags() -> None:
    enable_full_determinism(7)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert os.environ["CUDA_LAUNCH_BLOCKING"] == "1"
    assert os.environ["HCCL_DETERMINISTIC"] == "1"
    assert os.environ["FLASH_ATTENTION_DETERMINISTIC"] == "1"
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    first = torch.rand(2).tolist()
    set_seed(7)
    assert torch.rand(2).tolist() == first


def test_seed_worker_differs_by_rank_and_repeats() -> None:
    def draws_for(rank: int) -> list[float]:
        torch.manual_seed(1000)  # what the DataLoader gives a worker: base seed + worker id
        seed_worker(0, num_workers=2, rank=rank)
        return [random.random(), float(np.random.rand())]

    assert draws_for(0) == draws_for(0)
    assert draws_for(0) != draws_for(1)


def test_seed_worker_works_as_dataloader_worker_init_fn() -> None:
    data = torch.utils.data.TensorDataset(torch.arange(4.0))
    loader = torch.utils.data.DataLoader(
        data, batch_size=2, num_workers=1, worker_init_fn=seed_worker
    )
    assert sum(len(batch[0]) for batch in loader) == 4


def test_sampler_seed_prefers_data_seed() -> None:
    assert sampler_seed(SimpleNamespace(seed=1, data_seed=None)) == 1
    assert sampler_seed(SimpleNamespace(seed=1, data_seed=9)) == 9
    a = torch.randperm(10, generator=sampler_generator(SimpleNamespace(seed=1, data_seed=9)))
    b = torch.randperm(10, generator=sampler_generator(SimpleNamespace(seed=5, data_seed=9)))
    c = torch.randperm(10, generator=sampler_generator(SimpleNamespace(seed=1, data_seed=None)))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()
