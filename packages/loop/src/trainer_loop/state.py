"""The Trainer's inner state (`TrainerState`) and its control switches (`TrainerControl`).

Both mirror `transformers` 5.x field by field: `trainer_state.json` written here has the
same keys, values and formatting, so tools that read transformers checkpoints read ours.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["ExportableState", "TrainerControl", "TrainerState", "hp_params"]

_E = TypeVar("_E", bound="ExportableState")


class ExportableState:
    """Mixin for objects whose state is stored in checkpoints as plain JSON (never a pickle).

    `state()` returns `{"args": <constructor kwargs>, "attributes": <attributes to restore>}`;
    `from_state(state)` rebuilds an instance from it. The Trainer saves the state of every
    callback that inherits this mixin in `trainer_state.json["stateful_callbacks"]`.
    """

    def state(self) -> dict[str, Any]:
        raise NotImplementedError("You must implement a `state` function to utilize this class.")

    @classmethod
    def from_state(cls: type[_E], state: dict[str, Any]) -> _E:
        instance = cls(**state["args"])
        for key, value in state["attributes"].items():
            setattr(instance, key, value)
        return instance


def _export_callbacks(callbacks: list[Any]) -> dict[str, Any]:
    """Callbacks -> `{class name: state}`; a class seen twice stores a list of states."""
    exported: dict[str, Any] = {}
    for callback in callbacks:
        if not isinstance(callback, ExportableState):
            raise TypeError(
                "All callbacks passed to be saved must inherit `ExportableState`, but received "
                f"{type(callback)}"
            )
        name = type(callback).__name__
        if name not in exported:
            exported[name] = callback.state()
            continue
        if not isinstance(exported[name], list):
            exported[name] = [exported[name]]
        exported[name].append(callback.state())
    return exported


def hp_params(trial: Any) -> dict[str, Any]:
    """The hyperparameters of a search trial: optuna trials expose `.params`; ray/wandb give dicts."""
    if isinstance(trial, dict):
        return trial
    params = getattr(trial, "params", None)
    if isinstance(params, dict):
        return params
    raise RuntimeError(f"Unknown type for trial {trial.__class__}")


@dataclass
class TrainerState:
    """Everything about a training run that is not weights: progress, logs, best model, trial.

    One step is one optimizer update (several micro-batches under gradient accumulation).
    Fields, order and defaults are those of `transformers.TrainerState`.
    """

    epoch: float = 0
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list[dict[str, Any]] = None  # type: ignore[assignment]  # None -> []
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict[str, str | float | int | bool] | None = None
    # A list of ExportableState callbacks is turned into {name: state}; a dict (read back
    # from JSON) is kept as it is.
    stateful_callbacks: Any = None

    def __post_init__(self) -> None:
        if self.log_history is None:
            self.log_history = []
        if self.stateful_callbacks is None:
            self.stateful_callbacks = {}
        elif not isinstance(self.stateful_callbacks, dict):
            self.stateful_callbacks = _export_callbacks(list(self.stateful_callbacks))

    def save_to_json(self, json_path: str | os.PathLike[str]) -> None:
        """Write the state as transformers does: indent 2, sorted keys, trailing newline."""
        text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(text)

    @classmethod
    def load_from_json(cls, json_path: str | os.PathLike[str]) -> TrainerState:
        """Read a `trainer_state.json` (ours or transformers'); JSON only, never a pickle."""
        with open(json_path, encoding="utf-8") as f:
            text = f.read()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            return cls(**data)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{json_path} is not a valid trainer state: {error}") from error

    def compute_steps(self, args: Any, max_steps: int) -> None:
        """Store absolute logging/eval/save steps; values below 1 are fractions of `max_steps`."""
        for kind in ("logging", "eval", "save"):
            num_steps = getattr(args, f"{kind}_steps")
            if num_steps is None:
                continue  # eval_steps unset: keep the default (500), as transformers does
            if num_steps < 1:
                num_steps = math.ceil(max_steps * num_steps)
            setattr(self, f"{kind}_steps", num_steps)

    def init_training_references(
        self, trainer: Any, max_steps: int, num_train_epochs: int, trial: Any
    ) -> None:
        """Record the run's size, the process role and the hyperparameter trial, if any."""
        if trainer.hp_name is not None and trainer._trial is not None:
            # `trainer._trial`, not `trial`: under DDP optuna only calls `_hp_search_setup`.
            self.trial_name = trainer.hp_name(trainer._trial)
        self.trial_params = None
        if trial is not None:
            self.trial_params = hp_params(trial)
        self.max_steps = max_steps
        self.num_train_epochs = num_train_epochs
        self.is_local_process_zero = trainer.is_local_process_zero()
        self.is_world_process_zero = trainer.is_world_process_zero()


@dataclass
class TrainerControl(ExportableState):
    """Switches the callbacks flip to steer the loop: stop, end the epoch, save, evaluate, log.

    `should_training_stop` stays set until the next training starts; `should_epoch_stop`
    until the next epoch; the other three are reset at the start of every step.
    """

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def _new_training(self) -> None:
        self.should_training_stop = False

    def _new_epoch(self) -> None:
        self.should_epoch_stop = False

    def _new_step(self) -> None:
        self.should_save = False
        self.should_evaluate = False
        self.should_log = False

    def state(self) -> dict[str, Any]:
        return {
            "args": {
                "should_training_stop": self.should_training_stop,
                "should_epoch_stop": self.should_epoch_stop,
                "should_save": self.should_save,
                "should_evaluate": self.should_evaluate,
                "should_log": self.should_log,
            },
            "attributes": {},
        }
