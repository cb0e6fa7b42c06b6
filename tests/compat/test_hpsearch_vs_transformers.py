"""`hyperparameter_search` with Optuna, side by side: same model_init, space, seeded sampler
and data give the same BestRun as `transformers.Trainer.hyperparameter_search`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers
from compat_support import (
    accuracy,
    bert_config,
    common_args,
    make_tokenizer,
    sentiment_dataset,
)
from support.accelerate_state import reset_accelerate

import trainer as ours

pytestmark = pytest.mark.reference
optuna = pytest.importorskip("optuna")


def _space(trial: Any) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True),
        "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 3),
    }


def _search(module: Any, tmp_path: Path, **search_kwargs: Any) -> Any:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    config = bert_config(len(tokenizer), hidden_size=16, num_hidden_layers=1, intermediate_size=20)

    def model_init(trial: Any) -> Any:
        return transformers.BertForSequenceClassification(config)

    reset_accelerate()
    overrides = {"per_device_train_batch_size": 10, "per_device_eval_batch_size": 10}
    args = module.TrainingArguments(
        **common_args(tmp_path, **overrides, **search_kwargs.pop("args", {}))
    )
    trainer = module.Trainer(
        model_init=model_init, args=args, train_dataset=dataset, eval_dataset=dataset,
        data_collator=transformers.DataCollatorWithPadding(tokenizer), **search_kwargs.pop("init", {}),
    )  # fmt: skip
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return trainer.hyperparameter_search(
            hp_space=_space, n_trials=3, backend="optuna",
            sampler=optuna.samplers.TPESampler(seed=0), **search_kwargs,
        )  # fmt: skip
    finally:
        optuna.logging.set_verbosity(previous)


def test_best_run_equals_transformers(tmp_path: Path) -> None:
    reference = _search(transformers, tmp_path / "reference")
    best = _search(ours, tmp_path / "ours")
    assert isinstance(best, ours.BestRun)
    assert best.run_id == reference.run_id
    assert best.hyperparameters == reference.hyperparameters
    assert best.objective == pytest.approx(reference.objective, rel=1e-5)


def test_maximized_metrics_and_pareto_front_equal_transformers(tmp_path: Path) -> None:
    def two(metrics: dict[str, float]) -> list[float]:
        return [metrics["eval_loss"], metrics["eval_accuracy"]]

    kwargs: dict[str, Any] = dict(
        direction=["minimize", "maximize"], compute_objective=two,
        init={"compute_metrics": accuracy},
    )  # fmt: skip
    reference = _search(transformers, tmp_path / "reference", **dict(kwargs))
    front = _search(ours, tmp_path / "ours", **dict(kwargs))
    assert isinstance(front, list)
    assert [r.run_id for r in front] == [r.run_id for r in reference]
    for ours_run, ref_run in zip(front, reference):
        assert ours_run.hyperparameters == ref_run.hyperparameters
        assert ours_run.objective == pytest.approx(ref_run.objective, rel=1e-5)


def test_reports_and_pruning_during_training_equal_transformers(tmp_path: Path) -> None:
    """Evaluations during training are reported to optuna (and prune) as transformers does."""
    outcomes: dict[str, list[Any]] = {}
    bests = {}
    for name, module in (("reference", transformers), ("ours", ours)):
        storage = optuna.storages.InMemoryStorage()  # read the trials back after the search
        bests[name] = _search(
            module, tmp_path / name,
            args={"eval_strategy": "epoch", "save_strategy": "epoch"},
            pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
            storage=storage, study_name="search",
        )  # fmt: skip
        study = optuna.load_study(study_name="search", storage=storage)
        outcomes[name] = [
            (t.number, t.state.name, sorted(t.intermediate_values.items())) for t in study.trials
        ]
    assert [o[:2] for o in outcomes["ours"]] == [o[:2] for o in outcomes["reference"]]
    for (_, _, ours_values), (_, _, ref_values) in zip(outcomes["ours"], outcomes["reference"]):
        assert [step for step, _ in ours_values] == [step for step, _ in ref_values]
        assert [v for _, v in ours_values] == pytest.approx([v for _, v in ref_values], rel=1e-5)
    assert any(values for _, _, values in outcomes["ours"])
    assert "PRUNED" in {state for _, state, _ in outcomes["reference"]}
    assert bests["ours"].run_id == bests["reference"].run_id
    assert bests["ours"].objective == pytest.approx(bests["reference"].objective, rel=1e-5)
    # Checkpoints of each trial go to its own run folder.
    assert (tmp_path / "ours" / "run-0").is_dir()
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == sorted(
        p.name for p in (tmp_path / "reference").iterdir()
    )
