"""RNG capture/restore: identical draws afterwards, files without pickle."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open

from trainer_dist.rng_state import (
    capture_rng_state,
    load_rng_state,
    restore_rng_state,
    rng_state_filename,
    save_rng_state,
)


def _draws() -> list[Any]:
    # gauss/normal use cached second values: a restore must bring those back too
    return [
        random.random(),
        random.gauss(0, 1),
        random.getrandbits(64),
        np.random.rand(4).tolist(),
        np.random.normal(size=3).tolist(),
        float(np.random.standard_normal()),
        torch.rand(5).tolist(),
        torch.randint(0, 1000, (3,)).tolist(),
    ]


@pytest.fixture
def mid_stream() -> None:
    """Generators with cached gaussians pending (odd number of normal draws)."""
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    random.gauss(0, 1)
    np.random.standard_normal()


def test_capture_and_restore_in_memory(mid_stream: None) -> None:
    state = capture_rng_state()
    expected = _draws()
    restore_rng_state(state)
    assert _draws() == expected


def test_save_and_load_give_identical_draws(tmp_path: Path, mid_stream: None) -> None:
    path = tmp_path / rng_state_filename(0)
    save_rng_state(path)
    expected = _draws()
    _draws()  # move every generator further on
    load_rng_state(path)
    assert _draws() == expected


def test_load_without_restore_returns_the_state(tmp_path: Path, mid_stream: None) -> None:
    path = tmp_path / "rng.safetensors"
    save_rng_state(path)
    expected = _draws()
    state = load_rng_state(path, restore=False)
    assert _draws() != expected
    restore_rng_state(state)
    assert _draws() == expected


def test_loading_never_unpickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mid_stream: None
) -> None:
    path = tmp_path / "rng.safetensors"
    save_rng_state(path)
    expected = _draws()

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle used")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    load_rng_state(path)
    assert _draws() == expected


def test_file_is_safetensors_with_json_metadata(tmp_path: Path) -> None:
    path = tmp_path / "rng.safetensors"
    save_rng_state(path)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        meta = json.loads(f.metadata()["trainer_dist.rng_state"])
    assert {"python.mt", "numpy.keys", "torch.cpu"} <= keys
    assert meta["numpy"]["name"] == "MT19937"
    assert meta["format_version"] == 1


def test_other_safetensors_file_is_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="not an RNG state file"):
        load_rng_state(path)


def test_filenames() -> None:
    assert rng_state_filename(3) == "rng_state_3.safetensors"
    assert rng_state_filename() == "rng_state.safetensors"
