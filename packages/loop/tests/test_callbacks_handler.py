"""CallbackHandler: add/pop/remove semantics, warnings and call_event, as in transformers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from transformers import trainer_callback as ref

from trainer_loop.callbacks import (
    EVENTS,
    CallbackHandler,
    DefaultFlowCallback,
    PrinterCallback,
    ProgressCallback,
    TrainerCallback,
)
from trainer_loop.state import TrainerControl, TrainerState


class Plain:
    """A duck-typed callback shared by both handlers, so warnings print the same class."""

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        return None


@contextmanager
def captured(logger_name: str) -> Iterator[list[str]]:
    """Messages logged on `logger_name` (transformers' loggers do not propagate to the root)."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger(logger_name)
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_events_are_those_of_transformers() -> None:
    theirs = [name for name in vars(ref.TrainerCallback) if name.startswith("on_")]
    assert list(EVENTS) == theirs
    for event in EVENTS:
        kwargs = {"metrics": {}} if event == "on_predict" else {}
        assert getattr(TrainerCallback(), event)(None, None, None, **kwargs) is None


def _lists(lib: Any, flow: type, printer: type, progress: type) -> list[Any]:
    """Run the same add/pop/remove script; returns observable results and warnings."""
    name = (
        "trainer_loop.callbacks.handler"
        if lib is CallbackHandler
        else "transformers.trainer_callback"
    )
    seen: list[Any] = []
    with captured(name) as warnings:
        h = lib([flow, Plain], None, None, None, None)
        plain = h.callbacks[1]
        h.add_callback(Plain)  # duplicate: warned but added
        h.add_callback(printer())
        h.add_callback(progress)
        h.add_callback(progress())
        seen.append(h.callback_list)
        seen.append(type(h.pop_callback(printer)).__name__)
        seen.append(h.pop_callback(printer))
        seen.append(h.pop_callback(plain) is plain)
        h.remove_callback(progress)  # only the first instance
        seen.append(h.callback_list)
        last = h.callbacks[-1]
        h.remove_callback(last)
        seen.append(h.callback_list)
        with pytest.raises(ValueError):
            h.remove_callback(last)
        seen.append(h.pop_callback(Plain) is not None)
        lib([], None, None, None, None)  # no DefaultFlowCallback: warned
    # Class paths differ by package only: compare the messages without them.
    for prefix in ("trainer_loop.callbacks.progress.", "transformers.trainer_callback."):
        warnings = [w.replace(prefix, "") for w in warnings]
    seen.append(warnings)
    return seen


def test_add_pop_remove_match_transformers() -> None:
    ours = _lists(CallbackHandler, DefaultFlowCallback, PrinterCallback, ProgressCallback)
    theirs = _lists(
        ref.CallbackHandler, ref.DefaultFlowCallback, ref.PrinterCallback, ref.ProgressCallback
    )
    assert ours == theirs
    assert len(ours[-1]) == 3 and "there is already one" in ours[-1][0]


class _Replacer(TrainerCallback):
    def __init__(self) -> None:
        self.replacement = TrainerControl(should_log=True)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> TrainerControl:
        return self.replacement


class _Spy(TrainerCallback):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.calls.append(("on_step_end", control, kwargs))

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.calls.append(("on_log", control, kwargs))


def test_call_event_passes_kwargs_and_returned_control_replaces_it() -> None:
    replacer, spy = _Replacer(), _Spy()
    h = CallbackHandler([DefaultFlowCallback(), replacer, spy], "model", "tok", "opt", "sched")
    h.train_dataloader, h.eval_dataloader = "train_dl", "eval_dl"
    original = TrainerControl()
    state = TrainerState(global_step=1, max_steps=10)
    args = type(
        "A",
        (),
        {
            "logging_first_step": False,
            "logging_strategy": "no",
            "eval_strategy": "no",
            "save_strategy": "no",
            "eval_delay": 0,
        },
    )()
    result = h.on_step_end(args, state, original)
    assert result is replacer.replacement
    _, seen_control, kwargs = spy.calls[0]
    assert seen_control is replacer.replacement
    assert kwargs == {
        "model": "model",
        "processing_class": "tok",
        "optimizer": "opt",
        "lr_scheduler": "sched",
        "train_dataloader": "train_dl",
        "eval_dataloader": "eval_dl",
    }
    logs = {"loss": 1.0}
    assert h.on_log(args, state, original, logs=logs) is original
    assert spy.calls[1][2]["logs"] is logs
