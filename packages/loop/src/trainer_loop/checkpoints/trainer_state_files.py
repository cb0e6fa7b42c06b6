"""`trainer_state.json` and the state of stateful callbacks (ExportableState), as transformers."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from trainer_loop.checkpoints.file_errors import reading
from trainer_loop.checkpoints.names import TRAINER_STATE_NAME
from trainer_loop.state import ExportableState, TrainerControl, TrainerState

logger = logging.getLogger(__name__)


def export_callback_states(state: TrainerState, callbacks: Iterable[Any], control: Any) -> None:
    """Refresh `state.stateful_callbacks` from the live callbacks and the TrainerControl.

    A class stored as a list (several instances) gets one more entry per save, as transformers.
    """
    for callback in [*callbacks, control]:
        if not isinstance(callback, ExportableState):
            continue
        name = type(callback).__name__
        stored = state.stateful_callbacks.get(name)
        if isinstance(stored, list):
            stored.append(callback.state())
        else:
            state.stateful_callbacks[name] = callback.state()


def load_trainer_state(folder: str | Path) -> TrainerState | None:
    """`folder/trainer_state.json`, or None when there is none; a best checkpoint that no
    longer exists is dropped (with a warning), as transformers does on resume."""
    path = Path(folder) / TRAINER_STATE_NAME
    if not path.is_file():
        return None
    with reading(path):
        state = TrainerState.load_from_json(path)
    best = state.best_model_checkpoint
    if best is not None and not os.path.isdir(best):
        logger.warning(
            f"The best checkpoint {best} recorded in the resumed state does not exist anymore. "
            "Ignoring it for this run."
        )
        state.best_model_checkpoint = None
    return state


def report_changed_arguments(args: Any, state: TrainerState) -> None:
    """Warn when logging/eval/save steps or the batch size differ from the resumed checkpoint's."""
    mismatches = [
        f"\n\t{name}: {getattr(args, name)} (from args) != {getattr(state, name)} (from trainer_state.json)"
        for name in ("logging_steps", "eval_steps", "save_steps")
        if getattr(args, name, None) is not None
        and getattr(state, name, None) is not None
        and getattr(args, name) != getattr(state, name)
    ]
    if state.train_batch_size is not None:
        state_bs = state.train_batch_size // max(1, args.n_gpu)
        if args.per_device_train_batch_size != state_bs:
            mismatches.append(
                f"\n\tper_device_train_batch_size: {args.per_device_train_batch_size} (from args) != {state_bs} "
                "(from trainer_state.json)"
            )
    if mismatches:
        logger.warning(
            "Warning: The following arguments do not match the ones in the `trainer_state.json` within the "
            "checkpoint directory: " + "".join(mismatches)
        )


def restore_callback_states(state: TrainerState, callback_handler: Any, control: Any) -> Any:
    """`restore_callback_states_from_checkpoint`: rebuild matching callbacks from their state.

    Each stored class that matches a current callback gets a new instance `type(cb)(**args)`
    with its attributes set; the old one is removed and the new one appended at the end.
    Returns the control to use from now on (a restored TrainerControl, or `control`).
    """
    originals = [*callback_handler.callbacks, control]
    not_found, rebuilt = [], []
    for name, data in state.stateful_callbacks.items():
        matches = [cb for cb in originals if type(cb).__name__ == name]
        if not matches:
            not_found.append(name)
            continue
        for callback, saved in zip(matches, data if isinstance(data, list) else [data]):
            new = type(callback)(**saved.get("args", {}))
            for attribute, value in saved.get("attributes", {}).items():
                setattr(new, attribute, value)
            if isinstance(callback, TrainerControl):
                control = new
            else:
                rebuilt.append(new)
                callback_handler.remove_callback(type(new))
        logger.info(
            "Continuing training from checkpoint, restoring any callbacks that were passed in"
        )
    if not_found:
        logger.warning(
            "Checkpoint included callbacks not included in current configuration. Ignoring. "
            f"({', '.join(not_found)})"
        )
    for callback in rebuilt:
        callback_handler.add_callback(callback)
    return control
