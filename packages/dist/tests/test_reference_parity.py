"""Side by side with transformers: seeding draws; the package import stays light."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from trainer_dist.seeding import set_seed

pytestmark = pytest.mark.reference


def _draws() -> list[Any]:
    return [
        random.random(),
        np.random.rand(2).tolist(),
        torch.rand(2).tolist(),
        torch.randn(2).tolist(),
    ]


def test_set_seed_draws_like_transformers() -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers import set_seed as reference_set_seed

    reference_set_seed(42)
    expected = _draws()
    set_seed(42)
    assert _draws() == expected


def test_importing_the_package_loads_neither_torch_nor_accelerate() -> None:
    code = "import sys, trainer_dist; print(sorted({'torch', 'accelerate'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
