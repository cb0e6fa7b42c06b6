"""`CallbackHandler`: holds the Trainer's callbacks and calls each event on them, in order."""

from __future__ import annotations

import logging
import operator
from typing import Any

from trainer_loop.callbacks.base import EVENTS, TrainerCallback
from trainer_loop.callbacks.flow import DefaultFlowCallback
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["CallbackHandler"]

logger = logging.getLogger(__name__)


# The base class's events, all no-ops: a callback that does not override one is not called.
_NO_OPS: dict[str, Any] = {name: getattr(TrainerCallback, name) for name in EVENTS}


def _implementers(callbacks: list[Any], event: str) -> list[Any]:
    """The callbacks whose `event` is not TrainerCallback's no-op, in list order."""
    no_op = _NO_OPS[event]
    return [cb for cb in callbacks if getattr(getattr(cb, event), "__func__", None) is not no_op]


class CallbackHandler(TrainerCallback):
    """Holds the Trainer's callbacks and calls an event on each of them, in list order.

    Before some events it resets control flags, as transformers does: `should_training_stop`
    at train begin, `should_epoch_stop` at epoch begin, log/evaluate/save at step begin,
    and the flag an event fulfils (`on_log`, `on_evaluate`, `on_save`).
    """

    def __init__(
        self,
        callbacks: list[Any],
        model: Any,
        processing_class: Any,
        optimizer: Any,
        lr_scheduler: Any,
    ) -> None:
        self.callbacks: list[TrainerCallback] = []
        # Which callbacks implement each event, for the list as it was when computed.
        self._snapshot: list[Any] = []
        self._listening: dict[str, list[Any]] = {}
        for callback in callbacks:
            self.add_callback(callback)
        self.model = model
        self.processing_class = processing_class
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.train_dataloader: Any = None
        self.eval_dataloader: Any = None

        if not any(isinstance(cb, DefaultFlowCallback) for cb in self.callbacks):
            logger.warning(
                "The Trainer will not work properly if you don't have a `DefaultFlowCallback` in its callbacks. You\n"
                + "should add one before training with `trainer.add_callback(DefaultFlowCallback). The current list of"
                + "callbacks is\n:"
                + self.callback_list
            )

    def add_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        """Append a callback; a class is instantiated. A second one of the same class is added with a warning."""
        instance = callback() if isinstance(callback, type) else callback
        cls = callback if isinstance(callback, type) else type(callback)
        if cls in [type(cb) for cb in self.callbacks]:
            logger.warning(
                f"You are adding a {cls} to the callbacks of this Trainer, but there is already one. The current"
                + "list of callbacks is\n:"
                + self.callback_list
            )
        self.callbacks.append(instance)

    def pop_callback(
        self, callback: TrainerCallback | type[TrainerCallback]
    ) -> TrainerCallback | None:
        """Remove and return the first callback of that class (or that instance); None if absent."""
        for cb in self.callbacks:
            matches = isinstance(cb, callback) if isinstance(callback, type) else cb == callback
            if matches:
                self.callbacks.remove(cb)
                return cb
        return None

    def remove_callback(self, callback: TrainerCallback | type[TrainerCallback]) -> None:
        """Remove the first callback of that class, or that instance (ValueError if it is absent)."""
        if isinstance(callback, type):
            for cb in self.callbacks:
                if isinstance(cb, callback):
                    self.callbacks.remove(cb)
                    return
        else:
            self.callbacks.remove(callback)

    @property
    def callback_list(self) -> str:
        return "\n".join(type(cb).__name__ for cb in self.callbacks)

    def on_init_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_init_end", args, state, control, **kwargs)

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        control.should_training_stop = False
        return self.call_event("on_train_begin", args, state, control, **kwargs)

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_train_end", args, state, control, **kwargs)

    def on_epoch_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        control.should_epoch_stop = False
        return self.call_event("on_epoch_begin", args, state, control, **kwargs)

    def on_epoch_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_epoch_end", args, state, control, **kwargs)

    def on_step_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        control.should_log = False
        control.should_evaluate = False
        control.should_save = False
        return self.call_event("on_step_begin", args, state, control, **kwargs)

    def on_pre_optimizer_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_pre_optimizer_step", args, state, control, **kwargs)

    def on_optimizer_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_optimizer_step", args, state, control, **kwargs)

    def on_substep_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_substep_end", args, state, control, **kwargs)

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_step_end", args, state, control, **kwargs)

    def on_evaluate(  # type: ignore[override]
        self, args: Any, state: TrainerState, control: TrainerControl, metrics: Any, **kwargs: Any
    ) -> Any:
        control.should_evaluate = False
        return self.call_event("on_evaluate", args, state, control, metrics=metrics, **kwargs)

    def on_predict(
        self, args: Any, state: TrainerState, control: TrainerControl, metrics: Any, **kwargs: Any
    ) -> Any:
        return self.call_event("on_predict", args, state, control, metrics=metrics, **kwargs)

    def on_save(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        control.should_save = False
        return self.call_event("on_save", args, state, control, **kwargs)

    def on_log(  # type: ignore[override]
        self, args: Any, state: TrainerState, control: TrainerControl, logs: Any, **kwargs: Any
    ) -> Any:
        control.should_log = False
        return self.call_event("on_log", args, state, control, logs=logs, **kwargs)

    def on_prediction_step(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_prediction_step", args, state, control, **kwargs)

    def on_push_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> Any:
        return self.call_event("on_push_begin", args, state, control, **kwargs)

    def call_event(
        self, event: str, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        """Call `event` on every callback; a callback returning a control replaces it for the next."""
        # Which callbacks implement each event is cached while `self.callbacks` holds the same
        # objects (checked by identity, a C-level pass): most events of a step have no
        # listener, and then this check is all they cost.
        callbacks = self.callbacks
        if len(callbacks) != len(self._snapshot) or not all(
            map(operator.is_, callbacks, self._snapshot)
        ):
            self._snapshot, self._listening = list(callbacks), {}
        listeners = self._listening.get(event)
        if listeners is None:
            listeners = self._listening[event] = _implementers(callbacks, event)
        for callback in listeners:
            result = getattr(callback, event)(
                args,
                state,
                control,
                model=self.model,
                processing_class=self.processing_class,
                optimizer=self.optimizer,
                lr_scheduler=self.lr_scheduler,
                train_dataloader=self.train_dataloader,
                eval_dataloader=self.eval_dataloader,
                **kwargs,
            )
            if result is not None:
                control = result
        return control
