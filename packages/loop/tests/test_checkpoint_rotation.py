"""Rotation and ordering match transformers' `sort_checkpoints` / `rotate_checkpoints`, and stay
inside output_dir."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer_loop.checkpoints import (
    get_last_checkpoint,
    prune_checkpoints_at_train_end,
    rotate_checkpoints,
    sorted_checkpoints,
)

trainer_utils = pytest.importorskip("transformers.trainer_utils")
pytestmark = pytest.mark.reference


def _make(root: Path, steps: list[int], mtimes: list[float] | None) -> None:
    root.mkdir(parents=True)
    for i, step in enumerate(steps):
        folder = root / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x")
        if mtimes is not None:
            os.utime(folder, (mtimes[i], mtimes[i]))


def _names(paths: list[str] | list[Path]) -> list[str]:
    return [Path(p).name for p in paths]


def _case(rng: random.Random) -> tuple[list[int], list[float] | None, int, int | None]:
    steps = rng.sample(range(1, 60), rng.randint(0, 7))
    mtimes = None
    if rng.random() < 0.5:  # distinct mtimes, in an order unrelated to the steps
        mtimes = [1_700_000_000.0 + 10 * rng.randint(0, 50) + i for i in range(len(steps))]
    limit = rng.randint(-1, 5)
    best = rng.choice([None, *steps, 99])  # 99: a best checkpoint that no longer exists
    return steps, mtimes, limit, best


def test_same_order_and_same_survivors_as_transformers(tmp_path: Path) -> None:
    rng = random.Random(0)
    for i in range(150):
        steps, mtimes, limit, best_step = _case(rng)
        ours, theirs = tmp_path / f"ours{i}", tmp_path / f"theirs{i}"
        _make(ours, steps, mtimes)
        _make(theirs, steps, mtimes)
        best_ours = None if best_step is None else str(ours / f"checkpoint-{best_step}")
        best_theirs = None if best_step is None else str(theirs / f"checkpoint-{best_step}")
        for use_mtime in (False, True):
            assert _names(sorted_checkpoints(ours, best_ours, use_mtime=use_mtime)) == _names(
                trainer_utils.sort_checkpoints(
                    str(theirs), use_mtime=use_mtime, best_model_checkpoint=best_theirs
                )
            ), (steps, mtimes, best_step)
        rotate_checkpoints(ours, limit, best_ours, use_mtime=True)
        trainer_utils.rotate_checkpoints(str(theirs), limit, best_theirs, use_mtime=True)
        assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs)), (steps, mtimes, limit)


def test_verified_reference_cases(tmp_path: Path) -> None:
    _make(tmp_path / "a", [1, 2, 3, 4], None)
    rotate_checkpoints(tmp_path / "a", 2)
    assert sorted(os.listdir(tmp_path / "a")) == ["checkpoint-3", "checkpoint-4"]
    _make(tmp_path / "b", list(range(1, 13)), None)
    rotate_checkpoints(tmp_path / "b", 2, str(tmp_path / "b" / "checkpoint-2"))
    assert sorted(os.listdir(tmp_path / "b")) == ["checkpoint-12", "checkpoint-2"]


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.linear(x), labels)}


def _transformers_train_end(output_dir: Path, best: str | None, limit: int | None) -> None:
    """transformers.Trainer trains one step in `output_dir` (saving nothing) with `best` as its
    best checkpoint: what is left is what the end of its `_inner_training_loop` pruned."""
    transformers = pytest.importorskip("transformers")

    class Best(transformers.TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            state.best_model_checkpoint = best

    args = transformers.TrainingArguments(
        output_dir=str(output_dir), max_steps=1, per_device_train_batch_size=2,
        save_strategy="no", save_total_limit=limit, use_cpu=True, report_to="none",
        disable_tqdm=True,
    )  # fmt: skip
    data = [{"x": torch.ones(1), "labels": torch.ones(1)}] * 2
    torch.manual_seed(0)
    transformers.Trainer(model=_Tiny(), args=args, train_dataset=data, callbacks=[Best()]).train()


@pytest.mark.parametrize(("limit", "best"), [(1, 2), (1, 6), (2, 2), (None, 4), (1, None)])
def test_train_end_pruning_matches_transformers(
    tmp_path: Path, limit: int | None, best: int | None
) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    _make(ours, [2, 4, 6], None)
    _make(theirs, [2, 4, 6], None)
    prune_checkpoints_at_train_end(
        ours,
        save_total_limit=limit,
        best_model_checkpoint=None if best is None else str(ours / f"checkpoint-{best}"),
    )
    _transformers_train_end(
        theirs, None if best is None else str(theirs / f"checkpoint-{best}"), limit
    )
    assert sorted(os.listdir(ours)) == sorted(
        n for n in os.listdir(theirs) if n.startswith("checkpoint-")
    )


def test_rotation_never_deletes_outside_output_dir(tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    (outside / "checkpoint-1").mkdir(parents=True)
    (outside / "checkpoint-1" / "data.txt").write_text("keep me")
    (outside / "file.txt").write_text("keep me too")
    out = tmp_path / "out"
    _make(out, [3, 4, 5], None)
    (out / "checkpoint-1").symlink_to(outside, target_is_directory=True)
    (out / "checkpoint-2").symlink_to(outside / "checkpoint-1", target_is_directory=True)
    # A checkpoint holding a symlink: rmtree removes the link, not what it points to.
    (out / "checkpoint-3" / "link").symlink_to(outside, target_is_directory=True)

    # A best path through `..` is only ever protected, never a deletion target.
    deleted = rotate_checkpoints(out, 1, best_model_checkpoint=str(out / ".." / "precious"))
    assert _names(deleted) == ["checkpoint-3"]  # the missing best still counts, as transformers
    assert _names(rotate_checkpoints(out, 1, use_mtime=False)) == ["checkpoint-4"]
    prune_checkpoints_at_train_end(
        out, save_total_limit=1, best_model_checkpoint=str(out / "checkpoint-5")
    )
    assert (outside / "checkpoint-1" / "data.txt").read_text() == "keep me"
    assert (outside / "file.txt").read_text() == "keep me too"
    assert sorted(os.listdir(out)) == ["checkpoint-1", "checkpoint-2", "checkpoint-5"]
    assert get_last_checkpoint(out) is None  # checkpoint-5 has no trainer_state.json


def test_work_folders_are_not_rotated(tmp_path: Path) -> None:
    _make(tmp_path / "o", [1, 2], None)
    for name in (".tmp-checkpoint-3", ".trash-checkpoint-1-42", "checkpoint-best", "checkpoint-"):
        (tmp_path / "o" / name).mkdir()
    rotate_checkpoints(tmp_path / "o", 1)
    assert sorted(os.listdir(tmp_path / "o")) == [
        ".tmp-checkpoint-3", ".trash-checkpoint-1-42", "checkpoint-", "checkpoint-2",
        "checkpoint-best",
    ]  # fmt: skip


@pytest.mark.parametrize("use_mtime", [True, False])
def test_a_checkpoint_deleted_after_the_listing_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_mtime: bool
) -> None:
    """Two processes rotating one shared folder (`save_on_each_node` on a shared disk): a
    folder the other one deleted between our listing and our look at it is skipped, not an
    error that ends training."""
    from trainer_loop.checkpoints import rotation

    out = tmp_path / "out"
    _make(out, [10, 20, 30], [1_700_000_000.0, 1_700_000_010.0, 1_700_000_020.0])
    listed = rotation._checkpoint_names

    def listed_before_a_deletion(output_dir: Path) -> list[str]:
        return [*listed(output_dir), "checkpoint-5"]  # gone by the time it is looked at

    monkeypatch.setattr(rotation, "_checkpoint_names", listed_before_a_deletion)
    ordered = sorted_checkpoints(out, use_mtime=use_mtime)
    assert _names(ordered)[-3:] == ["checkpoint-10", "checkpoint-20", "checkpoint-30"]
    rotate_checkpoints(out, 1, use_mtime=use_mtime)
    assert sorted(os.listdir(out)) == ["checkpoint-30"]


def test_train_end_pruning_passes_over_a_checkpoint_already_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer_loop.checkpoints import rotation

    out = tmp_path / "out"
    _make(out, [10, 20], None)
    listed = rotation._checkpoint_names
    monkeypatch.setattr(rotation, "_checkpoint_names", lambda d: [*listed(d), "checkpoint-5"])
    prune_checkpoints_at_train_end(
        out, save_total_limit=1, best_model_checkpoint=out / "checkpoint-20"
    )
    assert sorted(os.listdir(out)) == ["checkpoint-20"]
