"""One torch thread for tiny models.

Tiny models run fastest on one thread, and one thread does not slow to a crawl when other
processes share the cores; bitwise comparisons of two runs also need the same reduction
order. A conftest applies the fixture to its folder by importing it:

    from support.torch_threads import one_torch_thread_fixture

    __all__ = ["one_torch_thread_fixture"]  # autouse: every test of this folder
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch runs on one intra-op thread inside the block; the previous count comes back after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def one_torch_thread_fixture() -> Iterator[None]:
    with one_torch_thread():
        yield
