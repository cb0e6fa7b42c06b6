"""TrainerState/TrainerControl/ExportableState, side by side with transformers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import transformers
from transformers import trainer_callback as ref

from trainer_loop.callbacks import EarlyStoppingCallback
from trainer_loop.state import ExportableState, TrainerControl, TrainerState

VALUES: dict[str, Any] = {
    "epoch": 1.5,
    "global_step": 30,
    "max_steps": 40,
    "logging_steps": 3,
    "eval_steps": 5,
    "save_steps": 10,
    "train_batch_size": 8,
    "num_train_epochs": 2,
    "num_input_tokens_seen": 1234,
    "total_flos": 5.5e12,
    "log_history": [{"loss": 0.25, "learning_rate": 1e-4, "epoch": 0.1, "step": 3}],
    "best_metric": 0.125,
    "best_global_step": 20,
    "best_model_checkpoint": "out/checkpoint-20",
    "is_local_process_zero": True,
    "is_world_process_zero": False,
    "is_hyper_param_search": True,
    "trial_name": "trial-1",
    "trial_params": {"lr": 0.001, "layers": 2, "act": "gelu", "bias": True},
}


def test_fields_order_and_defaults_match_transformers() -> None:
    ours = [(f.name, f.default) for f in dataclasses.fields(TrainerState)]
    theirs = [(f.name, f.default) for f in dataclasses.fields(transformers.TrainerState)]
    assert ours == theirs
    assert dataclasses.asdict(TrainerState()) == dataclasses.asdict(transformers.TrainerState())
    ctrl = [(f.name, f.default) for f in dataclasses.fields(TrainerControl)]
    assert ctrl == [(f.name, f.default) for f in dataclasses.fields(transformers.TrainerControl)]


def test_default_mutables_are_not_shared() -> None:
    a, b = TrainerState(), TrainerState()
    a.log_history.append({"loss": 1.0})
    assert b.log_history == [] and b.stateful_callbacks == {}


@pytest.mark.parametrize("values", [{}, VALUES], ids=["defaults", "filled"])
def test_save_to_json_is_byte_identical_to_transformers(
    tmp_path: Path, values: dict[str, Any]
) -> None:
    ours = TrainerState(**values, stateful_callbacks=[TrainerControl(should_save=True)])
    theirs = transformers.TrainerState(
        **values, stateful_callbacks=[transformers.TrainerControl(should_save=True)]
    )
    ours.save_to_json(tmp_path / "ours.json")
    theirs.save_to_json(str(tmp_path / "theirs.json"))
    text = (tmp_path / "ours.json").read_text()
    assert text == (tmp_path / "theirs.json").read_text()
    assert text.endswith("}\n")
    assert sorted(json.loads(text)) == sorted(f.name for f in dataclasses.fields(TrainerState))


def test_load_round_trips_and_reads_transformers_files(tmp_path: Path) -> None:
    state = TrainerState(**VALUES, stateful_callbacks=[TrainerControl(), EarlyStoppingCallback(3)])
    state.save_to_json(tmp_path / "s.json")
    assert TrainerState.load_from_json(tmp_path / "s.json") == state
    theirs = transformers.TrainerState(**VALUES)
    theirs.save_to_json(str(tmp_path / "t.json"))
    loaded = TrainerState.load_from_json(str(tmp_path / "t.json"))
    assert dataclasses.asdict(loaded) == dataclasses.asdict(theirs)


def test_stateful_callbacks_are_exported_like_transformers() -> None:
    ours = TrainerState(
        stateful_callbacks=[
            TrainerControl(),
            EarlyStoppingCallback(2, 0.1),
            EarlyStoppingCallback(4),
        ]
    ).stateful_callbacks
    theirs = transformers.TrainerState(
        stateful_callbacks=[
            transformers.TrainerControl(),
            transformers.EarlyStoppingCallback(2, 0.1),
            transformers.EarlyStoppingCallback(4),
        ]
    ).stateful_callbacks
    assert ours == theirs
    assert isinstance(ours["EarlyStoppingCallback"], list)


def test_non_exportable_callbacks_are_refused() -> None:
    with pytest.raises(TypeError, match="must inherit `ExportableState`"):
        TrainerState(stateful_callbacks=[object()])


def test_exportable_state_rebuilds_an_instance() -> None:
    cb = EarlyStoppingCallback(early_stopping_patience=3, early_stopping_threshold=0.5)
    cb.early_stopping_patience_counter = 2
    clone = EarlyStoppingCallback.from_state(json.loads(json.dumps(cb.state())))
    assert clone.state() == cb.state()
    ctrl = TrainerControl.from_state(TrainerControl(should_log=True).state())
    assert ctrl == TrainerControl(should_log=True)
    with pytest.raises(NotImplementedError):
        ExportableState().state()


def test_control_resets_like_transformers() -> None:
    for reset in ("_new_training", "_new_epoch", "_new_step"):
        ours, theirs = (
            TrainerControl(True, True, True, True, True),
            ref.TrainerControl(True, True, True, True, True),
        )
        getattr(ours, reset)()
        getattr(theirs, reset)()
        assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
        assert ours.state() == theirs.state()


@pytest.mark.parametrize(
    ("steps", "max_steps"),
    [
        ((0.25, 0.5, 0.3), 10),
        ((3, None, 0.5), 7),
        ((0.1, 0.01, 1), 33),
        ((500, 500, 500), 0),
        ((0.999, 0.5, 0.2), 1),
    ],
)
def test_compute_steps_matches_transformers(steps: tuple[Any, Any, Any], max_steps: int) -> None:
    args = SimpleNamespace(logging_steps=steps[0], eval_steps=steps[1], save_steps=steps[2])
    ours, theirs = TrainerState(), transformers.TrainerState()
    ours.compute_steps(args, max_steps)
    theirs.compute_steps(args, max_steps)
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)


def test_compute_steps_ratio_example_from_the_spec() -> None:
    state = TrainerState()
    args = SimpleNamespace(logging_steps=0.25, eval_steps=0.5, save_steps=0.3)
    state.compute_steps(args, 10)
    assert (state.logging_steps, state.eval_steps, state.save_steps) == (3, 5, 3)


class _FakeTrainer:
    def __init__(self, hp_name: Any = None, trial: Any = None) -> None:
        self.hp_name = hp_name
        self._trial = trial

    def is_local_process_zero(self) -> bool:
        return True

    def is_world_process_zero(self) -> bool:
        return False


def test_init_training_references_matches_transformers() -> None:
    trial = {"lr": 0.1}
    for trainer, t in (
        (_FakeTrainer(), None),
        (_FakeTrainer(lambda tr: f"run-{tr['lr']}", trial), trial),
    ):
        ours, theirs = TrainerState(), transformers.TrainerState()
        ours.init_training_references(trainer, 12, 3, t)
        if t is None:
            theirs.init_training_references(trainer, 12, 3, t)
            assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
        assert (ours.max_steps, ours.num_train_epochs, ours.is_world_process_zero) == (12, 3, False)
    assert ours.trial_name == "run-0.1" and ours.trial_params == trial


def test_init_training_references_reads_optuna_trials() -> None:
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study()
    trial = study.ask()
    trial.suggest_float("lr", 1e-5, 1e-3)
    state = TrainerState()
    state.init_training_references(_FakeTrainer(), 5, 1, trial)
    assert state.trial_params == trial.params
