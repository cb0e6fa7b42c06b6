"""Tests here train tiny models: one torch thread is fastest for them and, unlike the
default of one per core, does not slow to a crawl when other processes share the cores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
