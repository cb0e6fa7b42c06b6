"""Hyperparameter search behind `Trainer.hyperparameter_search`, with the Optuna backend.

Same contract as `transformers.Trainer.hyperparameter_search`: a `model_init` rebuilds the
model for each trial, `hp_space(trial)` picks values that are set on `trainer.args` (cast
to the type of the current value), the objective is `compute_objective(metrics)` (default:
the eval loss, or the sum of the other metrics), and the result is a `BestRun` (a list of
them for several `direction`s).

One deliberate difference: the trial's values are set *before* `train()` builds the model,
so a trial's `seed` also seeds its model's initial weights. transformers sets them after
`model_init`, so a trial's model depends on the previous trial's seed and re-running the
best hyperparameters does not reproduce the best objective; here it does.

Only Optuna is supported. `ray` and `wandb` sweeps are refused with an error saying so, and
Optuna is imported only when a search runs (it is an optional dependency).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from trainer_loop.outputs import BestRun

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_BACKENDS",
    "apply_trial",
    "default_compute_objective",
    "default_hp_space_optuna",
    "report_to_hp_search",
    "run_hyperparameter_search",
    "trial_output_dir",
]

SUPPORTED_BACKENDS = ("optuna",)
# Backends transformers knows, with the package it would need; we name them in the error.
_UNSUPPORTED_BACKENDS = {"ray": "ray[tune]", "wandb": "wandb", "sigopt": "sigopt"}
_OPTUNA_STUDY_OPTIMIZE_KWARGS = ("timeout", "n_jobs", "gc_after_trial", "catch", "callbacks")

# A `trainer_loop.Trainer` (or subclass). Typed loosely: the search sets attributes on it
# (`hp_space`, `compute_objective`, `objective`) as transformers' does.
Trainer = Any


def default_compute_objective(metrics: dict[str, float]) -> float:
    """`eval_loss` when it is the only metric, else the sum of the metrics (speed and epoch left out)."""
    remaining = dict(metrics)
    loss = remaining.pop("eval_loss", None)
    remaining.pop("epoch", None)
    # Timings are not objectives. transformers leaves `*_model_preparation_time` in, which turns the
    # objective into a duration when an unprepared model is evaluated; it is dropped here too.
    timings = ("_runtime", "_per_second", "_model_preparation_time")
    for key in [k for k in remaining if k.endswith(timings)]:
        remaining.pop(key)
    if not remaining:
        if loss is None:
            raise ValueError(
                "default_compute_objective found neither `eval_loss` nor other metrics in "
                f"{sorted(metrics)}; pass `compute_objective=` to hyperparameter_search."
            )
        return loss
    return float(sum(remaining.values()))


def default_hp_space_optuna(trial: Any) -> dict[str, Any]:
    """transformers' default search space: learning rate, epochs, seed and train batch size."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-6, 1e-4, log=True),
        "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 5),
        "seed": trial.suggest_int("seed", 1, 40),
        "per_device_train_batch_size": trial.suggest_categorical(
            "per_device_train_batch_size", [4, 8, 16, 32, 64]
        ),
    }


# ---------------------------------------------------------------------------------------------
# Backend resolution
# ---------------------------------------------------------------------------------------------


def _import_optuna() -> Any:
    """The optuna module, or None when it cannot be imported."""
    try:
        import optuna
    except ImportError:
        return None
    return optuna


def _backend_name(backend: Any) -> str:
    # HPSearchBackend members are str enums; `.value` also covers plain Enums from elsewhere.
    value = getattr(backend, "value", backend)
    if not isinstance(value, str):
        raise TypeError(
            f"`backend` must be a string such as 'optuna' (or an HPSearchBackend), got {backend!r}."
        )
    return value.lower()


def _resolve_optuna(backend: Any) -> Any:
    """Check the requested backend and return the optuna module (clear errors otherwise)."""
    if backend is None:
        optuna = _import_optuna()
        if optuna is None:
            raise RuntimeError(
                "No hyperparameter search backend available.\n"
                " - To install optuna run `pip install optuna` (the only backend this trainer supports)."
            )
        return optuna
    name = _backend_name(backend)
    if name in _UNSUPPORTED_BACKENDS:
        raise ValueError(
            f"The hyperparameter search backend {name!r} (package `{_UNSUPPORTED_BACKENDS[name]}`) is not "
            f"supported by this trainer; supported backends: {list(SUPPORTED_BACKENDS)}. "
            "Use backend='optuna' (`pip install optuna`)."
        )
    if name not in SUPPORTED_BACKENDS:
        raise ValueError(
            f"Unknown hyperparameter search backend {name!r}; supported backends: "
            f"{list(SUPPORTED_BACKENDS)}."
        )
    optuna = _import_optuna()
    if optuna is None:
        raise RuntimeError(
            "You picked the optuna backend, but it is not installed. Run `pip install optuna`."
        )
    return optuna


# ---------------------------------------------------------------------------------------------
# Per-trial hooks (the Trainer delegates `_report_to_hp_search` / `_get_output_dir` here)
# ---------------------------------------------------------------------------------------------


def _searching(trainer: Trainer, trial: Any) -> bool:
    return getattr(trainer, "hp_search_backend", None) is not None and trial is not None


def apply_trial(trainer: Trainer, trial: Any) -> dict[str, Any]:
    """Set the trial's hyperparameters on `trainer.args`, cast to the current values' types.

    Unknown names are skipped with a warning, as transformers does. The train batch size and
    the Accelerator are rebuilt because the values may change them (batch size, precision,
    gradient accumulation).

    The search applies a trial before `train()` (so its seed seeds the model) and the
    Trainer's `_hp_search_setup` calls this again inside `train()`: the second call for the
    same trial does nothing.
    """
    if getattr(trainer, "_hp_applied_trial", None) is trial:
        return {}
    params = dict(trainer.hp_space(trial))
    for key, value in params.items():
        if not hasattr(trainer.args, key):
            logger.warning(
                f"Trying to set {key} in the hyperparameter search but there is no corresponding field in "
                "`TrainingArguments`."
            )
            continue
        current = getattr(trainer.args, key, None)
        setattr(trainer.args, key, value if current is None else type(current)(value))
    logger.info(f"Trial: {getattr(trial, 'params', params)}")
    trainer._train_batch_size = trainer.args.train_batch_size
    trainer.create_accelerator_and_postprocess()
    trainer._hp_applied_trial = trial
    return params


def trial_run_name(trainer: Trainer, trial: Any) -> str:
    """`hp_name(trial)` when given, else `run-{trial.number}` (optuna) as transformers names runs."""
    if trainer.hp_name is not None:
        return str(trainer.hp_name(trial))
    number = getattr(trial, "number", None)
    if number is None:
        raise ValueError(
            f"Cannot name the run of trial {trial!r}: it has no `number`; pass `hp_name=` to "
            "hyperparameter_search."
        )
    return f"run-{number}"


def trial_output_dir(trainer: Trainer, trial: Any) -> str:
    """Where a trial's checkpoints go: `output_dir/<run name>` during a search, else `output_dir`."""
    if _searching(trainer, trial):
        return os.path.join(trainer.args.output_dir, trial_run_name(trainer, trial))
    return str(trainer.args.output_dir)


def report_to_hp_search(trainer: Trainer, trial: Any, step: int, metrics: dict[str, float]) -> None:
    """Record the objective of an evaluation during training; report it to optuna and prune.

    Multi-objective studies cannot prune, so they only record the objective (as transformers).
    """
    if not _searching(trainer, trial):
        return
    trainer.objective = trainer.compute_objective(dict(metrics))
    study = getattr(trial, "study", None)
    if study is None or len(study.directions) > 1:
        return
    trial.report(trainer.objective, step)
    if trial.should_prune():
        import optuna

        trainer.callback_handler.on_train_end(trainer.args, trainer.state, trainer.control)
        raise optuna.TrialPruned()


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------


def _free_trial_memory(trainer: Trainer) -> None:
    """Drop the trial's model; `Accelerator.clear()` forgets what it prepared, collects and empties caches."""
    trainer.model_wrapped = trainer.model = None
    trainer.accelerator.clear()


def _make_objective(trainer: Trainer) -> Callable[[Any], Any]:
    def objective(trial: Any) -> Any:
        trainer.objective = None
        apply_trial(trainer, trial)
        trainer.train(trial=trial)
        if trainer.objective is None:
            # No evaluation during training (or nothing reported it): evaluate the final model.
            trainer.objective = trainer.compute_objective(trainer.evaluate())
        _free_trial_memory(trainer)
        return trainer.objective

    return objective


def _direction_name(direction: Any) -> str:
    # optuna's StudyDirection members are accepted too (by name).
    return str(getattr(direction, "name", direction)).lower()


def _check_directions(direction: Any) -> None:
    is_single = isinstance(direction, str) or hasattr(direction, "name")
    directions = [direction] if is_single else list(direction)
    bad = [d for d in directions if _direction_name(d) not in ("minimize", "maximize")]
    if bad or not directions:
        raise ValueError(
            f"`direction` must be 'minimize' or 'maximize' (or a list of them), got {direction!r}."
        )


def _run_optuna(
    optuna: Any, trainer: Trainer, n_trials: int, direction: str | list[str], **kwargs: Any
) -> BestRun | list[BestRun]:
    optimize_kwargs = {k: kwargs.pop(k) for k in _OPTUNA_STUDY_OPTIMIZE_KWARGS if k in kwargs}
    multi = not (isinstance(direction, str) or hasattr(direction, "name"))
    study = optuna.create_study(
        direction=None if multi else direction,
        directions=list(direction) if multi else None,
        **kwargs,
    )
    study.optimize(_make_objective(trainer), n_trials=n_trials, **optimize_kwargs)
    if len(study.directions) > 1:
        return [BestRun(str(t.number), t.values, t.params) for t in study.best_trials]
    best = study.best_trial
    return BestRun(str(best.number), best.value, best.params)


def run_hyperparameter_search(
    trainer: Trainer,
    hp_space: Callable[[Any], dict[str, Any]] | None = None,
    compute_objective: Callable[[dict[str, float]], Any] | None = None,
    n_trials: int = 20,
    direction: str | list[str] = "minimize",
    backend: Any = None,
    hp_name: Callable[[Any], str] | None = None,
    **kwargs: Any,
) -> BestRun | list[BestRun]:
    """Body of `Trainer.hyperparameter_search`; `kwargs` go to `optuna.create_study` and
    `study.optimize` (`timeout`, `n_jobs`, `gc_after_trial`, `catch`, `callbacks`)."""
    optuna = _resolve_optuna(backend)
    from trainer_args import HPSearchBackend

    if trainer.model_init is None:
        raise RuntimeError(
            "To use hyperparameter search, you need to pass your model through a model_init function."
        )
    if trainer.args.world_size > 1:
        raise RuntimeError(
            "hyperparameter_search runs in a single process; it does not support distributed training "
            f"(world_size={trainer.args.world_size}) yet."
        )
    _check_directions(direction)
    trainer.hp_search_backend = HPSearchBackend.OPTUNA
    trainer.hp_space = default_hp_space_optuna if hp_space is None else hp_space
    trainer.hp_name = hp_name
    trainer.compute_objective = (
        default_compute_objective if compute_objective is None else compute_objective
    )
    try:
        return _run_optuna(optuna, trainer, n_trials, direction, **kwargs)
    finally:
        trainer.hp_search_backend = None
        trainer._hp_applied_trial = None
