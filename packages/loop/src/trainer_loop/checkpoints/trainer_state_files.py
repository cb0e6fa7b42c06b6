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


def load_trainer_state(folder: str | Path) -> TrainerState:
    """Read `folder/trainer_state.json`; a best checkpoint that no longer exists is dropped."""
    with reading(Path(folder) / TRAINER_STATE_NAME):
        state = TrainerState.load_from_json(Path(folder) / TRAINER_STATE_NAME)
    best = state.best_model_checkpoint
    if best is not None and not os.path.isdir(best):
        logger.warning(
            f"The best checkpoint {best} recorded in the resumed state does not exist anymore. "
            "Ignoring it for this run."
        )
        state.best_model_checkpoint = None
    return state


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
