"""Console progress: `ProgressCallback` (tqdm bars) and `PrinterCallback` (plain prints).

Interactive terminals (and notebooks) get live tqdm bars, as in transformers. When the
stream is not a TTY (CI logs, `nohup`, files), redrawing a bar on every step would write
one line per step, so the bars switch to *line mode*: one plain line each time another 5%
of the total is done (or at most every 30 seconds when steps are slow), plus the final line.
A 1000-step run therefore prints about 21 bar lines, however fast it runs.

In line mode an evaluation bar prints no opening line. An evaluation of fewer than 20
batches (where 5% is less than a batch) prints a line only after 30 seconds without one,
and then its final line too: a quick one leaves nothing in the log but its metrics. The
rate is timed from the end of the first batch, when the bar appears, so it is never
computed over a zero interval.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import tqdm.autonotebook
import tqdm.std
from tqdm.auto import tqdm as auto_tqdm

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["PrinterCallback", "ProgressCallback", "format_logs"]

# Line mode: print when this fraction of the total is done, or after this many seconds.
LINE_MODE_FRACTION = 0.05
LINE_MODE_MAX_SECONDS = 30.0


def _in_notebook() -> bool:
    # tqdm.autonotebook resolves to its widget class only inside a Jupyter kernel.
    return tqdm.autonotebook.tqdm is not tqdm.std.tqdm


def _has_length(obj: Any) -> bool:
    try:
        return len(obj) is not None
    except (TypeError, NotImplementedError):
        return False


class _LineStream:
    """Turns tqdm's carriage-return redraws into one plain, newline-terminated line each."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.muted = False  # while True, tqdm's output is dropped

    def write(self, text: str) -> int:
        if self.muted:
            return len(text)
        # Drop redraw controls (carriage returns, cursor-up escapes): each refresh is a line.
        line = text.replace("\r", "").replace("\x1b[A", "").strip("\n").rstrip()
        if line:
            self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


class _Bar:
    """A tqdm bar that redraws live on a TTY and prints paced lines elsewhere.

    `evaluation=True` makes an evaluation bar: it is created when the first batch is done,
    so it starts at 1, and in line mode it prints no opening line, no per-batch lines for
    short evaluations, and its final line only once.
    """

    def __init__(
        self, total: int, leave: bool, stream: IO[str] | None, *, evaluation: bool = False
    ) -> None:
        target = stream if stream is not None else sys.stderr
        self.line_mode = not (_isatty(target) or (stream is None and _in_notebook()))
        self.evaluation = evaluation
        # The first batch finished before the bar existed: counting it as the start keeps
        # the rate from being measured over no time at all.
        initial = 1 if evaluation else 0
        self._lines: _LineStream | None = None
        if self.line_mode:
            self._lines = _LineStream(target)
            # An evaluation's opening line would only say "1/N, no rate yet".
            self._lines.muted = evaluation
            # Automatic redraws off (inf intervals, no monitor thread); `advance` paces them.
            self.bar = tqdm.std.tqdm(
                total=total,
                initial=initial,
                leave=leave,
                file=self._lines,  # type: ignore[arg-type]
                mininterval=float("inf"),
                maxinterval=float("inf"),
                position=0,  # lines, not a screen: never move the cursor between bars
            )
            self._lines.muted = False
        else:
            self.bar = auto_tqdm(
                total=total, initial=initial, leave=leave, dynamic_ncols=True, file=stream
            )
        every = int(total * LINE_MODE_FRACTION)
        # Below 20 evaluation batches a 5% step is not a whole batch: print by time only.
        self._every = every if evaluation else max(1, every)
        self._next_n = self._every
        self._last_print = time.monotonic()
        self._printed_n: int | None = None  # the count the last line showed

    def advance(self, n: int) -> None:
        self.bar.update(n)
        if not self.line_mode:
            return
        now = time.monotonic()
        due = self._every > 0 and self.bar.n >= self._next_n
        if due or now - self._last_print >= LINE_MODE_MAX_SECONDS:
            self._print_line(now)

    def _print_line(self, now: float) -> None:
        self.bar.refresh()
        count = int(self.bar.n)  # tqdm types `n` as float; ours only ever counts whole batches
        self._printed_n = count
        self._last_print = now
        if self._every > 0:
            self._next_n = (count // self._every + 1) * self._every

    def set_postfix(self, values: dict[str, Any]) -> None:
        # No redraw here: the next step (or paced line) shows it.
        self.bar.set_postfix(values, refresh=False)

    def write(self, text: str, file: IO[str] | None) -> None:
        self.bar.write(text, file=file)

    def close(self) -> None:
        if self._lines is not None and self.evaluation:
            # An evaluation that printed progress ends on its final count; a silent one stays
            # silent. tqdm's own closing line would repeat that line, so it is dropped.
            if self._printed_n is not None and self._printed_n != self.bar.n:
                self.bar.refresh()
            self._lines.muted = True
        self.bar.close()


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # closed stream
        return False


def format_logs(logs: dict[str, Any], max_str_len: int | None = None) -> dict[str, Any]:
    """A shallow copy for display: floats as `"%.4g"` strings, over-long strings replaced."""
    shown: dict[str, Any] = {}
    for key, value in logs.items():
        if max_str_len is not None and isinstance(value, str) and len(value) > max_str_len:
            shown[key] = (
                f"[String too long to display, length: {len(value)} > {max_str_len}. "
                "Consider increasing `max_str_len` if needed.]"
            )
        elif isinstance(value, float):
            shown[key] = f"{value:.4g}"
        else:
            shown[key] = value
    return shown


def _postfix(logs: dict[str, Any], state: TrainerState) -> dict[str, Any]:
    """What the training bar shows after its counter: live loss, learning rate and epoch."""
    postfix: dict[str, Any] = {}
    for key, short in (("loss", "loss"), ("learning_rate", "lr")):
        value = logs.get(key)
        if isinstance(value, (int, float)):
            postfix[short] = f"{value:.4g}"
    if postfix and state.epoch is not None:
        postfix["epoch"] = f"{state.epoch:.2f}"
    return postfix


class ProgressCallback(TrainerCallback):
    """Shows a training bar (steps, ETA, loss, lr, epoch) and an evaluation bar, on the main process.

    Logs are written above the bar as `str(dict)` with floats formatted `"%.4g"` and without
    `total_flos`, as transformers does. `file` (an extension) is where bars go (default
    stderr); `log_file` where logs go (default stdout). When `file` is not a terminal, bars
    print paced plain lines instead of redrawing (see the module notes), and a short, quick
    evaluation prints no bar lines at all.
    """

    def __init__(
        self,
        max_str_len: int = 100,
        *,
        file: IO[str] | None = None,
        log_file: IO[str] | None = None,
    ) -> None:
        self.training_bar: _Bar | None = None
        self.prediction_bar: _Bar | None = None
        self.max_str_len = max_str_len
        self.file = file
        self.log_file = log_file
        self.current_step = 0

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Open the training bar, sized to `state.max_steps`."""
        if state.is_world_process_zero:
            self.training_bar = _Bar(total=state.max_steps, leave=True, stream=self.file)
        self.current_step = 0

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Move the training bar to `state.global_step`."""
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.advance(state.global_step - self.current_step)
            self.current_step = state.global_step

    def on_prediction_step(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        eval_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        """Count one evaluation batch, opening the evaluation bar on the first one.

        Nothing is shown for a dataloader without a length (the total is unknown).
        """
        if state.is_world_process_zero and _has_length(eval_dataloader):
            if self.prediction_bar is None:
                # Left on screen only when there is no training bar to return to. The bar
                # starts at 1: this call reports the first batch done.
                leave = self.training_bar is None
                self.prediction_bar = _Bar(
                    len(eval_dataloader), leave=leave, stream=self.file, evaluation=True
                )
            else:
                self.prediction_bar.advance(1)

    def _close_prediction_bar(self, state: TrainerState) -> None:
        if state.is_world_process_zero:
            if self.prediction_bar is not None:
                self.prediction_bar.close()
            self.prediction_bar = None

    def on_evaluate(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Close the evaluation bar."""
        self._close_prediction_bar(state)

    def on_predict(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        """Close the prediction bar."""
        self._close_prediction_bar(state)

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """During training, write the logs above the bar and show loss, lr and epoch on it."""
        if not state.is_world_process_zero or self.training_bar is None or logs is None:
            return
        shown = format_logs(logs, self.max_str_len)
        shown.pop("total_flos", None)  # from the copy only: the caller's dict is untouched
        postfix = _postfix(logs, state)
        if postfix:
            self.training_bar.set_postfix(postfix)
        self.training_bar.write(str(shown), file=self.log_file)

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Close the training bar."""
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


class PrinterCallback(TrainerCallback):
    """Prints the logs (floats as `"%.4g"` strings); the Trainer uses it when `disable_tqdm=True`.

    Like transformers, it removes `total_flos` from the logs dict it receives (the same dict
    the Trainer returns in `TrainOutput.metrics`).
    """

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Print the logs on the local main process; `total_flos` is removed from `logs` first."""
        if logs is not None:
            logs.pop("total_flos", None)
        if state.is_local_process_zero:
            print(format_logs(logs) if logs is not None else logs)
