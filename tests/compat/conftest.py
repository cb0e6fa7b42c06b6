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
from support.accelerate_state import reset_accelerate
from support.torch_threads import one_torch_thread_fixture

pytest.importorskip("transformers")
pytest.importorskip("datasets")

# The helpers live beside the tests (not a package): make them importable under importlib mode.
sys.path.insert(0, str(Path(__file__).parent))


# Bitwise-equal numbers between two runs need the same reduction order: one thread.
__all__ = ["one_torch_thread_fixture"]  # autouse: every test of this folder


@pytest.fixture(autouse=True)
def _fresh_accelerate_state() -> Iterator[None]:
    reset_accelerate()
    yield
    reset_accelerate()
