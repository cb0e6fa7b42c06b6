"""Fixtures of the compatibility tests: transformers models, tokenizers, datasets and collators
run through our Trainer and through `transformers.Trainer`, side by side.

The whole folder needs transformers and datasets (the reference and the user's data); without
them it is skipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("datasets")

# The helpers live beside the tests (not a package): make them importable under importlib mode.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # Bitwise-equal numbers between two runs need the same reduction order: one thread.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _fresh_accelerate_state() -> Iterator[None]:
    from compat_support import reset_accelerate

    reset_accelerate()
    yield
    reset_accelerate()
