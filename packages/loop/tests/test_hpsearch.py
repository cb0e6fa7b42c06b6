"""Hyperparameter search with the Optuna backend (`trainer_loop.hpsearch`), on a plain torch model.

The side-by-side comparison with `transformers.Trainer.hyperparameter_search` is in
tests/compat/test_hpsearch_vs_transformers.py.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from support.accelerate_state import reset_accelerate
from trainer_support import (
    RegressionDataset,
    RegressionModel,
)

from trainer_args import TrainingArguments
from trainer_loop import BestRun, Trainer
from trainer_loop.hpsearch import default_compute_objective

optuna = pytest.importorskip("optuna")


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Any:
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reset_accelerate()
    yield
    optuna.logging.set_verbosity(previous)


def model_init(trial: Any = None) -> RegressionModel:
    return RegressionModel()


def lr_space(trial: Any) -> dict[str, Any]:
    return {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True)}


def lr_seed_space(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True),
        "seed": trial.suggest_int("seed", 1, 40),
    }


def make_trainer(tmp_path: Path, with_model_init: bool = True, **overrides: Any) -> Trainer:
    kwargs: dict[str, Any] = dict(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", disable_tqdm=True,
        save_strategy="no", per_device_train_batch_size=8, per_device_eval_batch_size=8,
        num_train_epochs=2.0, logging_steps=1, seed=3,
    )  # fmt: skip
    kwargs.update(overrides)
    return Trainer(
        model=None if with_model_init else RegressionModel(),
        model_init=model_init if with_model_init else None,
        args=TrainingArguments(**kwargs),
        train_dataset=RegressionDataset(16, seed=0),
        eval_dataset=RegressionDataset(8, seed=1),
    )


def sampler() -> Any:
    return optuna.samplers.TPESampler(seed=0)


def run_hyperparameter_search(trainer: Any, **kwargs: Any) -> Any:
    """`trainer.hyperparameter_search(**kwargs)`, the call a user makes."""
    return trainer.hyperparameter_search(**kwargs)


# ---- results -------------------------------------------------------------------------------------


def test_search_returns_the_best_run(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    objectives: list[float] = []
    best = run_hyperparameter_search(
        trainer, hp_space=lr_space, n_trials=3, sampler=sampler(),
        compute_objective=lambda m: objectives.append(m["eval_loss"]) or m["eval_loss"],
    )  # fmt: skip
    assert isinstance(best, BestRun)
    assert best.run_id in {"0", "1", "2"}
    assert best.objective == min(objectives)
    assert set(best.hyperparameters) == {"learning_rate"}
    assert trainer.hp_search_backend is None  # reset after the search


def test_seeded_search_is_reproducible(tmp_path: Path) -> None:
    first = run_hyperparameter_search(
        make_trainer(tmp_path / "a"), hp_space=lr_seed_space, n_trials=3, sampler=sampler()
    )
    reset_accelerate()
    second = run_hyperparameter_search(
        make_trainer(tmp_path / "b"), hp_space=lr_seed_space, n_trials=3, sampler=sampler()
    )
    assert first == second


def test_best_hyperparameters_reproduce_the_best_objective(tmp_path: Path) -> None:
    """A trial's seed also seeds its model (transformers uses the previous trial's seed there)."""
    best = run_hyperparameter_search(
        make_trainer(tmp_path / "search"), hp_space=lr_seed_space, n_trials=3, sampler=sampler()
    )
    assert isinstance(best, BestRun)
    reset_accelerate()
    rerun = make_trainer(tmp_path / "rerun", **best.hyperparameters)
    rerun.train()
    assert rerun.evaluate()["eval_loss"] == best.objective


def test_maximize_picks_the_largest_objective(tmp_path: Path) -> None:
    objectives: list[float] = []
    best = run_hyperparameter_search(
        make_trainer(tmp_path), hp_space=lr_space, n_trials=3, sampler=sampler(),
        direction="maximize",
        compute_objective=lambda m: objectives.append(m["eval_loss"]) or m["eval_loss"],
    )  # fmt: skip
    assert isinstance(best, BestRun)
    assert best.objective == max(objectives) and len(set(objectives)) == 3


def test_several_directions_give_the_pareto_front(tmp_path: Path) -> None:
    def two_objectives(metrics: dict[str, float]) -> list[float]:
        return [metrics["eval_loss"], -metrics["eval_loss"]]

    front = run_hyperparameter_search(
        make_trainer(tmp_path), hp_space=lr_space, n_trials=3, sampler=sampler(),
        direction=["minimize", "minimize"], compute_objective=two_objectives,
    )  # fmt: skip
    assert isinstance(front, list) and len(front) == 3  # x and -x: every trial is on the front
    for run in front:
        assert isinstance(run, BestRun)
        assert run.objective[0] == -run.objective[1]


def test_default_objective_is_eval_loss_or_sum_of_metrics() -> None:
    speed = {"eval_runtime": 1.0, "eval_samples_per_second": 2.0, "eval_steps_per_second": 3.0}
    assert default_compute_objective({"eval_loss": 0.5, "epoch": 2.0, **speed}) == 0.5
    metrics = {"eval_loss": 0.5, "eval_accuracy": 0.25, "eval_f1": 0.5, "epoch": 2.0, **speed}
    assert default_compute_objective(metrics) == 0.75
    # A timing, not a metric (transformers would return 0.25 here: the preparation time).
    assert default_compute_objective({"eval_loss": 0.5, "eval_model_preparation_time": 0.25}) == 0.5


def test_default_objective_with_compute_metrics(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    trainer.compute_metrics = lambda p: {"mae": float(abs(p.predictions - p.label_ids).mean())}
    maes: list[float] = []
    original = trainer.evaluate

    def recording_evaluate(*args: Any, **kwargs: Any) -> dict[str, float]:
        metrics = original(*args, **kwargs)
        maes.append(metrics["eval_mae"])
        return metrics

    trainer.evaluate = recording_evaluate  # type: ignore[method-assign]
    best = run_hyperparameter_search(trainer, hp_space=lr_space, n_trials=2, sampler=sampler())
    assert isinstance(best, BestRun)
    assert best.objective == min(maes)


def test_trial_values_are_cast_and_unknown_names_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = make_trainer(tmp_path)

    def space(trial: Any) -> dict[str, Any]:
        return {
            "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 2),
            "per_device_train_batch_size": trial.suggest_categorical("bs", [4, 16]),
            "not_an_argument": 1,
        }

    with caplog.at_level(logging.WARNING, logger="trainer_loop.trainer.search"):
        run_hyperparameter_search(trainer, hp_space=space, n_trials=2, sampler=sampler())
    assert isinstance(trainer.args.num_train_epochs, float)  # the field's type, as transformers
    assert trainer.args.per_device_train_batch_size in (4, 16)
    assert trainer._train_batch_size == trainer.args.per_device_train_batch_size
    assert any("not_an_argument" in r.getMessage() for r in caplog.records)


def test_trial_name_and_params_in_state(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    run_hyperparameter_search(
        trainer, hp_space=lr_space, n_trials=1, sampler=sampler(),
        hp_name=lambda trial: f"lr-{trial.number}",
    )  # fmt: skip
    assert trainer.state.trial_name == "lr-0"
    assert set(trainer.state.trial_params) == {"learning_rate"}
    assert trainer.state.is_hyper_param_search is True


def test_optuna_kwargs_reach_the_study(tmp_path: Path) -> None:
    seen: list[int] = []
    run_hyperparameter_search(
        make_trainer(tmp_path), hp_space=lr_space, n_trials=2, sampler=sampler(),
        study_name="named", callbacks=[lambda study, trial: seen.append(trial.number)],
    )  # fmt: skip
    assert seen == [0, 1]


# ---- errors ----------------------------------------------------------------------------------------


def test_needs_model_init(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="model_init"):
        run_hyperparameter_search(make_trainer(tmp_path, with_model_init=False), n_trials=1)


@pytest.mark.parametrize("backend", [None, "optuna"])
def test_missing_optuna_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str | None
) -> None:
    trainer = make_trainer(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(RuntimeError, match="pip install optuna") as info:
        run_hyperparameter_search(trainer, n_trials=1, backend=backend)
    if backend is None:
        assert "No hyperparameter search backend available" in str(info.value)
    assert trainer.hp_search_backend is None


@pytest.mark.parametrize(
    ("backend", "package"), [("ray", "ray[tune]"), ("wandb", "wandb"), ("sigopt", "sigopt")]
)
def test_unsupported_backends_are_refused(tmp_path: Path, backend: str, package: str) -> None:
    with pytest.raises(ValueError, match="not supported") as info:
        run_hyperparameter_search(make_trainer(tmp_path), n_trials=1, backend=backend)
    assert package in str(info.value) and "optuna" in str(info.value)


def test_unknown_backend_and_direction(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    with pytest.raises(ValueError, match="Unknown hyperparameter search backend 'hyperopt'"):
        run_hyperparameter_search(trainer, n_trials=1, backend="hyperopt")
    with pytest.raises(ValueError, match="'minimize' or 'maximize'"):
        run_hyperparameter_search(trainer, n_trials=1, direction="down")


def test_backend_enum_is_accepted(tmp_path: Path) -> None:
    from trainer_args import HPSearchBackend

    best = run_hyperparameter_search(
        make_trainer(tmp_path), hp_space=lr_space, n_trials=1, backend=HPSearchBackend.OPTUNA
    )
    assert isinstance(best, BestRun)


def test_backend_reset_when_a_trial_fails(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)

    def broken(metrics: dict[str, float]) -> float:
        raise KeyError("eval_accuracy")

    with pytest.raises(KeyError):
        run_hyperparameter_search(trainer, hp_space=lr_space, n_trials=1, compute_objective=broken)
    assert trainer.hp_search_backend is None


# ---- through the Trainer's methods and hooks -------------------------------------------------------------


def test_trainer_method(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    best = trainer.hyperparameter_search(hp_space=lr_space, n_trials=2, sampler=sampler())
    assert isinstance(best, BestRun)


def test_trial_checkpoints_go_to_run_folders(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, save_strategy="epoch")
    run_hyperparameter_search(trainer, hp_space=lr_space, n_trials=2, sampler=sampler())
    assert (tmp_path / "run-0" / "checkpoint-4").is_dir()
    assert (tmp_path / "run-1" / "checkpoint-4").is_dir()


def test_hp_name_names_the_run_folders(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, save_strategy="epoch")
    run_hyperparameter_search(
        trainer, hp_space=lr_space, n_trials=1, sampler=sampler(),
        hp_name=lambda trial: f"trial-{trial.number}",
    )  # fmt: skip
    assert (tmp_path / "trial-0" / "checkpoint-4").is_dir()


class _PruneAfterFirstReport(optuna.pruners.BasePruner):  # type: ignore[misc]
    def prune(self, study: Any, trial: Any) -> bool:
        return trial.number > 0 and len(trial.intermediate_values) >= 1


def test_evaluations_during_training_are_reported_and_pruned(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, eval_strategy="steps", eval_steps=1)
    study_trials: list[Any] = []
    run_hyperparameter_search(
        trainer, hp_space=lr_space, n_trials=2, sampler=sampler(), pruner=_PruneAfterFirstReport(),
        callbacks=[lambda study, trial: study_trials.append(trial)],
    )  # fmt: skip
    first, second = study_trials
    assert sorted(first.intermediate_values) == [1, 2, 3, 4]
    assert first.state == optuna.trial.TrialState.COMPLETE
    assert second.state == optuna.trial.TrialState.PRUNED


def test_each_trial_is_applied_once(tmp_path: Path) -> None:
    """The search applies the trial before train(); `_hp_search_setup` inside train() does not redo it."""
    calls: list[int] = []

    def space(trial: Any) -> dict[str, Any]:
        calls.append(trial.number)
        return lr_space(trial)

    make_trainer(tmp_path).hyperparameter_search(hp_space=space, n_trials=2, sampler=sampler())
    assert calls == [0, 1]


def test_default_space_and_optuna_direction_enum(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path)
    best = trainer.hyperparameter_search(
        n_trials=1, sampler=sampler(), direction=optuna.study.StudyDirection.MINIMIZE
    )
    assert isinstance(best, BestRun)
    assert set(best.hyperparameters) == {
        "learning_rate", "num_train_epochs", "seed", "per_device_train_batch_size",
    }  # fmt: skip
    assert trainer.args.seed == best.hyperparameters["seed"]
