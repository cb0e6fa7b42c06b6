"""Checkpoints through the Trainer: the same folders as transformers.Trainer, no unpickling."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from support.regression_job import DropoutNet, RegressionData

from trainer_loop import Trainer


class ScriptedMetric:
    """compute_metrics returning a fixed sequence, so both trainers see the same best step."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self, prediction: Any) -> dict[str, float]:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"score": value}


BASE: dict[str, Any] = {
    "max_steps": 12,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "dataloader_num_workers": 0,
    "learning_rate": 0.01,
    "logging_steps": 1,
    "seed": 3,
    "report_to": [],
    "use_cpu": True,
    "disable_tqdm": True,
}
SCORES = [5.0, 1.0, 4.0, 3.0, 2.0, 6.0, 7.0, 3.0, 2.5, 8.0, 9.0, 9.5]
CASES: dict[str, dict[str, Any]] = {
    "limit2": {"save_steps": 1, "save_total_limit": 2},
    "limit2_best_early": {
        "save_steps": 1, "eval_strategy": "steps", "eval_steps": 1, "save_total_limit": 2,
        "load_best_model_at_end": True, "metric_for_best_model": "score",
        "greater_is_better": False,
    },
    "limit1_best": {
        "save_steps": 2, "eval_strategy": "steps", "eval_steps": 2, "save_total_limit": 1,
        "load_best_model_at_end": True, "metric_for_best_model": "score",
        "greater_is_better": False,
    },
    "epochs_best_greater": {
        "save_strategy": "epoch", "eval_strategy": "epoch", "save_total_limit": 2,
        "load_best_model_at_end": True, "metric_for_best_model": "score",
    },
    "strategy_best": {
        "save_strategy": "best", "eval_strategy": "steps", "eval_steps": 2,
        "save_total_limit": 2, "metric_for_best_model": "score", "greater_is_better": False,
    },
    "save_only_model": {"save_steps": 4, "save_only_model": True},
}  # fmt: skip


def _run(trainer_cls: Any, args_cls: Any, out: Path, options: dict[str, Any]) -> Any:
    args = args_cls(output_dir=str(out), **{**BASE, **options})
    torch.manual_seed(0)
    trainer = trainer_cls(
        model=DropoutNet(),
        args=args,
        train_dataset=RegressionData(),
        eval_dataset=RegressionData(4, seed=1),
        compute_metrics=ScriptedMetric(SCORES),
    )
    trainer.train()
    return trainer


@pytest.mark.reference
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_checkpoint_folders_as_transformers(case: str, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from trainer_args import TrainingArguments

    ours = _run(Trainer, TrainingArguments, tmp_path / "ours", CASES[case])
    theirs = _run(
        transformers.Trainer, transformers.TrainingArguments, tmp_path / "theirs", CASES[case]
    )
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "theirs"))
    for key in ("best_metric", "best_global_step", "global_step"):
        assert getattr(ours.state, key) == getattr(theirs.state, key), key
    best_ours, best_theirs = ours.state.best_model_checkpoint, theirs.state.best_model_checkpoint
    assert (best_ours is None) == (best_theirs is None)
    if best_ours is not None:
        assert best_ours == str(tmp_path / "ours" / Path(best_theirs).name)
    for name in os.listdir(tmp_path / "ours"):
        ours_state = json.loads((tmp_path / "ours" / name / "trainer_state.json").read_text())
        theirs_state = json.loads((tmp_path / "theirs" / name / "trainer_state.json").read_text())
        assert ours_state.keys() == theirs_state.keys()
        assert ours_state["stateful_callbacks"] == theirs_state["stateful_callbacks"]
        assert [e["step"] for e in ours_state["log_history"]] == [
            e["step"] for e in theirs_state["log_history"]
        ]
        assert ours_state["best_model_checkpoint"] == (
            None
            if theirs_state["best_model_checkpoint"] is None
            else theirs_state["best_model_checkpoint"].replace("theirs", "ours")
        )


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle._Unpickler, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def test_save_resume_and_best_model_load_without_unpickling(
    tmp_path: Path, no_unpickling: None
) -> None:
    from trainer_args import TrainingArguments

    options = {**BASE, **CASES["limit2_best_early"]}
    trainer = _run(Trainer, TrainingArguments, tmp_path / "run", CASES["limit2_best_early"])
    best = Path(trainer.state.best_model_checkpoint)
    assert best.name == "checkpoint-2"
    best_weights = load_file(str(best / "model.safetensors"))
    for name, tensor in trainer.model.state_dict().items():  # load_best_model_at_end
        assert torch.equal(tensor, best_weights[name])
    assert not any(p.suffix in (".pt", ".pth", ".bin") for p in (tmp_path / "run").rglob("*"))

    # Resume from the last checkpoint into a fresh folder: everything is read back.
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(tmp_path / "run" / "checkpoint-12", resumed_dir / "checkpoint-12")
    args = TrainingArguments(output_dir=str(resumed_dir), **{**options, "max_steps": 14})
    resumed = Trainer(
        model=DropoutNet(),
        args=args,
        train_dataset=RegressionData(),
        eval_dataset=RegressionData(4, seed=1),
        compute_metrics=ScriptedMetric([0.5]),
    )
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 14
    assert Path(resumed.state.best_model_checkpoint).name == "checkpoint-13"


@pytest.mark.reference
def test_resuming_a_transformers_checkpoint_is_refused_clearly(
    tmp_path: Path, no_unpickling: None
) -> None:
    transformers = pytest.importorskip("transformers")
    from trainer_args import TrainingArguments
    from trainer_loop.checkpoints import CheckpointFormatError

    _run(
        transformers.Trainer,
        transformers.TrainingArguments,
        tmp_path,
        {"max_steps": 2, "save_steps": 2},
    )
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").is_file()
    args = TrainingArguments(output_dir=str(tmp_path), **{**BASE, "max_steps": 4})
    trainer = Trainer(model=DropoutNet(), args=args, train_dataset=RegressionData())
    with pytest.raises(CheckpointFormatError, match=r"optimizer\.pt.*never unpickles"):
        trainer.train(resume_from_checkpoint=True)
