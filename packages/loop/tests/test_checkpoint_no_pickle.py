"""Loading never unpickles: transformers' pickle files are refused (or ignored), never executed."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer_loop.checkpoints import (
    CheckpointFormatError,
    load_best_model,
    load_checkpoint_model,
    load_checkpoint_optimizer_and_scheduler,
    load_checkpoint_rng,
    load_trainer_state,
    save_checkpoint,
)
from trainer_loop.schedulers import get_scheduler
from trainer_loop.state import TrainerControl, TrainerState


@dataclasses.dataclass
class Args:
    should_save: bool = True
    save_only_model: bool = False
    save_strategy: str = "steps"
    save_total_limit: int | None = None
    process_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Exploit:
    """Unpickling this creates a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle._Unpickler, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def _parts(seed: int) -> tuple[torch.nn.Module, Any, Any]:
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, optimizer, get_scheduler("linear", optimizer, 1, 10)


def _checkpoint(out: Path) -> Path:
    model, optimizer, scheduler = _parts(0)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    state = TrainerState(global_step=1, stateful_callbacks=[TrainerControl()])
    return save_checkpoint(
        out, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None, state=state,
        args=Args(), control=TrainerControl(),
    )  # fmt: skip


def _plant(folder: Path, name: str, marker: Path) -> None:
    # What an attacker (or transformers' torch.save) puts there.
    (folder / name).write_bytes(pickle.dumps(_Exploit(marker)))


def test_full_round_trip_loads_no_pickle(tmp_path: Path, no_unpickling: None) -> None:
    folder = _checkpoint(tmp_path)
    model, optimizer, scheduler = _parts(1)
    load_checkpoint_model(model, folder)
    assert load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, None, folder)
    assert load_checkpoint_rng(folder, 0)
    assert load_trainer_state(folder).global_step == 1
    load_best_model(model, folder)


def test_planted_pickles_next_to_ours_are_never_opened(tmp_path: Path, no_unpickling: None) -> None:
    folder = _checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "pytorch_model.bin", "scaler.pt"):
        _plant(folder, name, marker)
    model, optimizer, scheduler = _parts(1)
    load_checkpoint_model(model, folder)
    load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, None, folder)
    load_checkpoint_rng(folder, 0)
    assert not marker.exists()


def test_transformers_optimizer_pickle_is_refused_clearly(
    tmp_path: Path, no_unpickling: None
) -> None:
    folder = _checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    for ours in ("optimizer.json", "optimizer.safetensors", "scheduler.json"):
        (folder / ours).unlink()
    _plant(folder, "optimizer.pt", marker)
    _plant(folder, "scheduler.pt", marker)
    _, optimizer, scheduler = _parts(1)
    with pytest.raises(
        CheckpointFormatError, match=r"optimizer\.pt, scheduler\.pt.*never unpickles"
    ):
        load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, None, folder)
    assert not marker.exists()


def test_pickled_weights_are_refused(tmp_path: Path, no_unpickling: None) -> None:
    folder = tmp_path / "checkpoint-3"
    folder.mkdir()
    marker = tmp_path / "pwned"
    _plant(folder, "pytorch_model.bin", marker)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    model, _, _ = _parts(0)
    with pytest.raises(CheckpointFormatError, match=r"pytorch_model\.bin"):
        load_checkpoint_model(model, folder)
    with pytest.raises(CheckpointFormatError, match=r"pytorch_model\.bin"):
        load_best_model(model, folder)
    assert not marker.exists()


def test_save_only_model_checkpoint_has_nothing_to_restore(tmp_path: Path) -> None:
    folder = _checkpoint(tmp_path)
    for name in ("optimizer.json", "optimizer.safetensors", "scheduler.json"):
        (folder / name).unlink()
    _, optimizer, scheduler = _parts(1)
    assert not load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, None, folder)
    assert not load_checkpoint_rng(tmp_path, 3)
