"""Hyperparameter search on the Trainer: trials' values, their folders, reporting, the study.

Same contract as transformers' `Trainer.hyperparameter_search` (a `model_init` rebuilds the
model for each trial, `hp_space(trial)` values are set on `args`, the objective comes from
`compute_objective(metrics)`), with one difference: a trial's values are set before
`train()` builds its model, so its `seed` also seeds the model and re-running the best
values reproduces the best objective (transformers sets them after `model_init`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainer_loop import hpsearch
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.outputs import BestRun
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["SearchMixin"]


class SearchMixin(TrainerAttributes):
    """`hyperparameter_search` and the hooks `train()` calls during a search."""

    def hyperparameter_search(
        self: Trainer,
        hp_space: Callable[[Any], dict[str, Any]] | None = None,
        compute_objective: Callable[[dict[str, float]], Any] | None = None,
        n_trials: int = 20,
        direction: str | list[str] = "minimize",
        backend: Any = None,
        hp_name: Callable[[Any], str] | None = None,
        **kwargs: Any,
    ) -> BestRun | list[BestRun]:
        """Search hyperparameters with Optuna (needs `model_init`); returns `BestRun` (or a list).

        `kwargs` go to `optuna.create_study` and `study.optimize` (`timeout`, `n_jobs`,
        `gc_after_trial`, `catch`, `callbacks`).
        """
        optuna = hpsearch.resolve_optuna(backend)
        from trainer_args import HPSearchBackend

        if self.model_init is None:
            raise RuntimeError(
                "To use hyperparameter search, you need to pass your model through a model_init function."
            )
        if self.args.world_size > 1:
            raise RuntimeError(
                "hyperparameter_search runs in a single process; it does not support distributed training "
                f"(world_size={self.args.world_size}) yet."
            )
        hpsearch.check_directions(direction)
        self.hp_search_backend = HPSearchBackend.OPTUNA
        self.hp_space = hpsearch.default_hp_space_optuna if hp_space is None else hp_space
        self.hp_name = hp_name
        self.compute_objective = (
            hpsearch.default_compute_objective if compute_objective is None else compute_objective
        )
        try:
            return hpsearch.run_optuna(optuna, self._trial_objective, n_trials, direction, **kwargs)
        finally:
            self.hp_search_backend = None
            self._hp_applied_trial = None

    def _trial_objective(self: Trainer, trial: Any) -> Any:
        """Train one trial and return its objective, then free its model."""
        self.objective = None
        self._hp_search_setup(trial)
        self.train(trial=trial)
        if self.objective is None:
            # No evaluation during training (or nothing reported it): evaluate the final model.
            self.objective = self.compute_objective(self.evaluate())
        # `Accelerator.clear()` forgets what it prepared, collects and empties the caches.
        self.model_wrapped = self.model = None
        self.accelerator.clear()
        return self.objective

    def _searching(self: Trainer, trial: Any) -> bool:
        return self.hp_search_backend is not None and trial is not None

    def _hp_search_setup(self: Trainer, trial: Any) -> None:
        """Set the trial's hyperparameters on `args`, cast to the current values' types.

        Unknown names are skipped with a warning, as transformers does. The train batch size
        and the Accelerator are rebuilt because the values may change them. The search applies
        a trial before `train()` (so its seed seeds the model) and `train()` calls this again:
        the second call for the same trial does nothing.
        """
        self._trial = trial
        if not self._searching(trial) or self._hp_applied_trial is trial:
            return
        params = dict(self.hp_space(trial))
        for key, value in params.items():
            if not hasattr(self.args, key):
                logger.warning(
                    f"Trying to set {key} in the hyperparameter search but there is no corresponding field in "
                    "`TrainingArguments`."
                )
                continue
            current = getattr(self.args, key, None)
            setattr(self.args, key, value if current is None else type(current)(value))
        logger.info(f"Trial: {getattr(trial, 'params', params)}")
        self._train_batch_size = self.args.train_batch_size
        self.create_accelerator_and_postprocess()
        self._hp_applied_trial = trial

    def _report_to_hp_search(
        self: Trainer, trial: Any, step: int, metrics: dict[str, float]
    ) -> None:
        """Record the objective of an evaluation during training; report it to optuna and prune.

        Multi-objective studies cannot prune, so they only record the objective (as transformers).
        """
        if not self._searching(trial):
            return
        self.objective = self.compute_objective(dict(metrics))
        study = getattr(trial, "study", None)
        if study is None or len(study.directions) > 1:
            return
        trial.report(self.objective, step)
        if trial.should_prune():
            import optuna

            self.callback_handler.on_train_end(self.args, self.state, self.control)
            raise optuna.TrialPruned()

    def _trial_run_name(self: Trainer, trial: Any) -> str:
        """`hp_name(trial)` when given, else `run-{trial.number}` (optuna) as transformers names runs."""
        if self.hp_name is not None:
            return str(self.hp_name(trial))
        number = getattr(trial, "number", None)
        if number is None:
            raise ValueError(
                f"Cannot name the run of trial {trial!r}: it has no `number`; pass `hp_name=` to "
                "hyperparameter_search."
            )
        return f"run-{number}"

    def _get_output_dir(self: Trainer, trial: Any) -> str:
        """Where a run's checkpoints go: `output_dir/<run name>` during a search, else `output_dir`."""
        if self._searching(trial):
            return os.path.join(self.args.output_dir, self._trial_run_name(trial))
        return str(self.args.output_dir)
