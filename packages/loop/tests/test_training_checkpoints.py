"""Checkpoints from the training loop: when they are written, resuming exactly, the best model."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from trainer_support import (
    RegressionDataset,
    RegressionModel,
    assert_same_logs,
    assert_same_weights,
    base_kwargs,
    build_ours,
    build_reference,
)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return RegressionModel()


def _checkpoints(folder: Path) -> list[str]:
    return sorted(
        (p for p in os.listdir(folder) if p.startswith("checkpoint-")),
        key=lambda p: int(p.split("-")[1]),
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"save_strategy": "steps", "save_steps": 3, "max_steps": 7},
            ["checkpoint-3", "checkpoint-6", "checkpoint-7"],
        ),
        ({"save_strategy": "epoch", "num_train_epochs": 2}, ["checkpoint-4", "checkpoint-8"]),
        ({"save_strategy": "steps", "save_steps": 2, "max_steps": 8, "save_total_limit": 2}, None),
    ],
    ids=["steps", "epoch", "rotation"],
)
def test_checkpoint_folders_match_transformers(
    tmp_path: Path, overrides: dict, expected: list[str] | None
) -> None:
    model = _model()
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref = build_reference(
        copy.deepcopy(model),
        base_kwargs(ref_dir, **overrides),
        train_dataset=RegressionDataset(n=16),
    )
    ref.train()
    ours = build_ours(
        copy.deepcopy(model),
        base_kwargs(our_dir, **overrides),
        train_dataset=RegressionDataset(n=16),
    )
    ours.train()
    assert _checkpoints(our_dir) == _checkpoints(ref_dir)
    if expected is not None:
        assert _checkpoints(our_dir) == expected
    last = our_dir / _checkpoints(our_dir)[-1]
    assert (last / "model.safetensors").is_file() and (last / "trainer_state.json").is_file()
    assert not any(name.endswith((".pt", ".bin", ".pth")) for name in os.listdir(last))
    assert_same_logs(ref.state.log_history, ours.state.log_history)


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path: Path) -> None:
    model = _model()
    kwargs = base_kwargs(
        tmp_path,
        save_strategy="steps",
        save_steps=2,
        max_steps=8,
        train_sampling_strategy="random",
        data_seed=3,
    )
    full = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    full.train()
    resumed = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    # 3 updates per epoch: checkpoint-4 is one batch into the second epoch, which resume skips.
    out = resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))
    assert out.global_step == 8
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    full_logs = [e for e in full.state.log_history if "loss" in e]
    resumed_logs = [e for e in resumed.state.log_history if "loss" in e]
    assert [e["loss"] for e in resumed_logs] == [e["loss"] for e in full_logs]

    again = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    out = again.train(resume_from_checkpoint=True)  # the last checkpoint: step 8
    # Quirk kept from transformers (checked side by side): step 8 is mid-epoch, so the rest of that
    # epoch (one step) still runs before the max_steps check stops training.
    assert out.global_step == 9


def test_resume_true_without_checkpoint_raises(tmp_path: Path) -> None:
    ours = build_ours(
        _model(), base_kwargs(tmp_path, max_steps=2), train_dataset=RegressionDataset(n=8)
    )
    with pytest.raises(ValueError, match="No valid checkpoint found in output directory"):
        ours.train(resume_from_checkpoint=True)


def test_load_best_model_at_end_matches_transformers(tmp_path: Path) -> None:
    overrides = {
        "eval_strategy": "steps", "eval_steps": 2, "save_strategy": "steps", "save_steps": 2, "max_steps": 8,
        "load_best_model_at_end": True, "metric_for_best_model": "loss", "learning_rate": 0.5, "optim": "sgd",
    }  # fmt: skip
    model = _model()
    ref = build_reference(
        copy.deepcopy(model),
        base_kwargs(tmp_path / "ref", **overrides),
        train_dataset=RegressionDataset(n=16),
        eval_dataset=RegressionDataset(n=6, seed=9),
    )
    ref.train()
    ours = build_ours(
        copy.deepcopy(model),
        base_kwargs(tmp_path / "ours", **overrides),
        train_dataset=RegressionDataset(n=16),
        eval_dataset=RegressionDataset(n=6, seed=9),
    )
    ours.train()
    assert ours.state.best_global_step == ref.state.best_global_step
    assert ours.state.best_metric == pytest.approx(ref.state.best_metric)
    assert Path(ours.state.best_model_checkpoint).name == Path(ref.state.best_model_checkpoint).name
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_save_model_and_save_state(tmp_path: Path) -> None:
    ours = build_ours(
        _model(), base_kwargs(tmp_path, max_steps=2), train_dataset=RegressionDataset(n=8)
    )
    ours.train()
    assert not (tmp_path / "model.safetensors").exists()  # train() does not save the final model
    ours.save_model()
    ours.save_state()
    assert (tmp_path / "model.safetensors").is_file()
    assert (tmp_path / "trainer_state.json").is_file()
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "model.safetensors"))
    for key, value in ours.model.state_dict().items():
        assert torch.equal(saved[key], value)


def test_ignore_data_skip_restarts_the_resumed_epoch(tmp_path: Path) -> None:
    model = _model()
    kwargs = base_kwargs(tmp_path, save_strategy="steps", save_steps=4, max_steps=6)
    full = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    full.train()
    resumed = build_ours(
        copy.deepcopy(model),
        {**kwargs, "ignore_data_skip": True},
        train_dataset=RegressionDataset(n=12),
    )
    out = resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))
    assert out.global_step == 6
    # step 4 is one batch into the second epoch; without skipping, batch 0 of that epoch is seen again
    assert not torch.equal(full.model.head.weight, resumed.model.head.weight)
    assert [e["step"] for e in resumed.state.log_history if "loss" in e] == [1, 2, 3, 4, 5, 6]
