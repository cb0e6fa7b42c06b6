"""Preemption: on SIGTERM/SIGINT finish the current optimizer step, checkpoint, stop cleanly.

A callback plus a signal handler, so the training loop needs no special code: the handler
only records the request; at the next `on_step_end` (or `on_epoch_end`) the callback sets
`control.should_save` and `control.should_training_stop`, and the loop saves and returns
normally, so a script that then returns exits with code 0. The Trainer adds it when
`args.enable_jit_checkpoint` is set (transformers' `JITCheckpointCallback`, without its
3 s grace timer: the request is honoured at the very next step end).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

from trainer_loop.callbacks.base import TrainerCallback

logger = logging.getLogger(__name__)

_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class PreemptionCallback(TrainerCallback):
    """Turn SIGTERM/SIGINT into "save a checkpoint and stop" at the next step end.

    A second SIGINT while a request is pending restores the previous handler and raises
    KeyboardInterrupt, so Ctrl-C twice still interrupts at once. `request_checkpoint()`
    does the same as a signal, for schedulers that warn otherwise.
    """

    def __init__(self, signals: Iterable[int] = _DEFAULT_SIGNALS) -> None:
        self.signals = tuple(signals)
        self.requested = False
        self.received_signal: int | None = None
        self._previous: dict[int, Any] = {}
        self._last_saved_step: int | None = None

    def request_checkpoint(self) -> None:
        self.requested = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only flip flags here: logging or I/O inside a signal handler can re-enter a stream.
        if self.requested and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt
        self.requested = True
        self.received_signal = signum

    def _install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            logger.warning("Preemption handling needs the main thread; signals are not caught.")
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()

    def _stop_and_save(self, state: Any, control: Any) -> None:
        if not self.requested:
            return
        if self._last_saved_step != state.global_step:
            name = signal.Signals(self.received_signal).name if self.received_signal else "Request"
            logger.warning(
                f"{name} received: saving a checkpoint at step {state.global_step} and stopping."
            )
            control.should_save = True
        control.should_training_stop = True

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.requested = False
        self.received_signal = None
        self._install()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stop_and_save(state, control)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stop_and_save(state, control)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last_saved_step = state.global_step

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._restore()


JITCheckpointCallback = PreemptionCallback
