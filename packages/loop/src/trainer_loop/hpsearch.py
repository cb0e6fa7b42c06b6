"""Hyperparameter search with the Optuna backend: defaults, backend checks, the study.

The Trainer's side (setting a trial's values, reporting, the trial's folder) is
`trainer_loop.trainer.search`.

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
from collections.abc import Callable
from typing import Any

from trainer_loop.outputs import BestRun

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_BACKENDS",
    "check_directions",
    "default_compute_objective",
    "default_hp_space_optuna",
    "resolve_optuna",
    "run_optuna",
]

SUPPORTED_BACKENDS = ("optuna",)
# Backends transformers knows, with the package it would need; we name them in the error.
_UNSUPPORTED_BACKENDS = {"ray": "ray[tune]", "wandb": "wandb", "sigopt": "sigopt"}
_OPTUNA_STUDY_OPTIMIZE_KWARGS = ("timeout", "n_jobs", "gc_after_trial", "catch", "callbacks")


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


def resolve_optuna(backend: Any) -> Any:
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
# The search
# ---------------------------------------------------------------------------------------------


def _direction_name(direction: Any) -> str:
    # optuna's StudyDirection members are accepted too (by name).
    return str(getattr(direction, "name", direction)).lower()


def check_directions(direction: Any) -> None:
    is_single = isinstance(direction, str) or hasattr(direction, "name")
    directions = [direction] if is_single else list(direction)
    bad = [d for d in directions if _direction_name(d) not in ("minimize", "maximize")]
    if bad or not directions:
        raise ValueError(
            f"`direction` must be 'minimize' or 'maximize' (or a list of them), got {direction!r}."
        )


def run_optuna(
    optuna: Any,
    objective: Callable[[Any], Any],
    n_trials: int,
    direction: str | list[str],
    **kwargs: Any,
) -> BestRun | list[BestRun]:
    """An optuna study of `objective` over `n_trials`; the best run (one per direction).

    `kwargs` go to `optuna.create_study` and `study.optimize` (`timeout`, `n_jobs`,
    `gc_after_trial`, `catch`, `callbacks`).
    """
    optimize_kwargs = {k: kwargs.pop(k) for k in _OPTUNA_STUDY_OPTIMIZE_KWARGS if k in kwargs}
    multi = not (isinstance(direction, str) or hasattr(direction, "name"))
    study = optuna.create_study(
        direction=None if multi else direction,
        directions=list(direction) if multi else None,
        **kwargs,
    )
    study.optimize(objective, n_trials=n_trials, **optimize_kwargs)
    if len(study.directions) > 1:
        return [BestRun(str(t.number), t.values, t.params) for t in study.best_trials]
    best = study.best_trial
    return BestRun(str(best.number), best.value, best.params)
