"""Stateful callbacks in trainer_state.json, restored as transformers, and the preemption callback."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.callbacks.early_stopping import EarlyStoppingCallback
from trainer_loop.callbacks.flow import DefaultFlowCallback
from trainer_loop.callbacks.handler import CallbackHandler
from trainer_loop.callbacks.preemption import JITCheckpointCallback, PreemptionCallback
from trainer_loop.checkpoints import export_callback_states, restore_callback_states
from trainer_loop.state import TrainerControl, TrainerState


def _handler(*callbacks: Any) -> CallbackHandler:
    return CallbackHandler([DefaultFlowCallback(), *callbacks], None, None, None, None)


def test_export_then_restore_rebuilds_callbacks(tmp_path: Path) -> None:
    early = EarlyStoppingCallback(early_stopping_patience=3, early_stopping_threshold=0.1)
    early.early_stopping_patience_counter = 2
    control = TrainerControl(should_training_stop=True)
    state = TrainerState(stateful_callbacks=[early, control])
    early.early_stopping_patience_counter = 2
    export_callback_states(state, [DefaultFlowCallback(), early], control)
    state.save_to_json(tmp_path / "trainer_state.json")
    loaded = TrainerState.load_from_json(tmp_path / "trainer_state.json")
    assert loaded.stateful_callbacks["EarlyStoppingCallback"] == {
        "args": {"early_stopping_patience": 3, "early_stopping_threshold": 0.1},
        "attributes": {"early_stopping_patience_counter": 2},
    }

    fresh = EarlyStoppingCallback()

    class Other(TrainerCallback):
        pass

    handler = _handler(fresh, Other())
    new_control = restore_callback_states(loaded, handler, TrainerControl())
    assert new_control.should_training_stop is True
    names = [type(cb).__name__ for cb in handler.callbacks]
    assert names == ["DefaultFlowCallback", "Other", "EarlyStoppingCallback"]  # appended last
    restored = handler.callbacks[-1]
    assert restored is not fresh
    assert restored.early_stopping_patience == 3  # type: ignore[attr-defined]
    assert restored.early_stopping_patience_counter == 2  # type: ignore[attr-defined]


def test_unknown_stored_callbacks_warn(caplog: pytest.LogCaptureFixture) -> None:
    state = TrainerState(stateful_callbacks={"Gone": {"args": {}, "attributes": {}}})
    control = TrainerControl()
    assert restore_callback_states(state, _handler(), control) is control
    assert "Ignoring. (Gone)" in caplog.text


def test_repeated_classes_append_one_entry_per_save() -> None:
    first, second = EarlyStoppingCallback(1), EarlyStoppingCallback(2)
    control = TrainerControl()
    state = TrainerState(stateful_callbacks=[first, second, control])
    export_callback_states(state, [first, second], control)
    assert len(state.stateful_callbacks["EarlyStoppingCallback"]) == 4  # transformers' quirk


def _events(callback: PreemptionCallback, state: TrainerState, control: TrainerControl) -> None:
    callback.on_step_end(None, state, control)
    if control.should_save:
        callback.on_save(None, state, control)
        control.should_save = False
    callback.on_epoch_end(None, state, control)


def test_sigterm_requests_a_checkpoint_at_the_next_step_end() -> None:
    assert JITCheckpointCallback is PreemptionCallback
    before = signal.getsignal(signal.SIGTERM)
    callback, state, control = PreemptionCallback(), TrainerState(global_step=3), TrainerControl()
    callback.on_train_begin(None, state, control)
    try:
        callback.on_step_end(None, state, control)
        assert not control.should_save and not control.should_training_stop
        os.kill(os.getpid(), signal.SIGTERM)  # the handler only records it
        assert callback.requested
        callback.on_step_end(None, state, control)
        assert control.should_save and control.should_training_stop
        callback.on_save(None, state, control)
        control.should_save = False
        callback.on_epoch_end(None, state, control)
        assert not control.should_save  # already saved at this step: no second save
    finally:
        callback.on_train_end(None, state, control)
    assert signal.getsignal(signal.SIGTERM) == before


def test_second_sigint_interrupts_at_once() -> None:
    callback, state, control = PreemptionCallback(), TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert callback.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        callback.on_train_end(None, state, control)


def test_epoch_end_request_saves_when_no_step_end_followed() -> None:
    callback, state, control = PreemptionCallback(), TrainerState(global_step=9), TrainerControl()
    callback.request_checkpoint()
    callback.on_epoch_end(None, state, control)
    assert control.should_save and control.should_training_stop
