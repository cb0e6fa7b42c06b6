"""ProgressCallback and PrinterCallback: what a user sees on the console."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
import tqdm.std
from transformers import trainer_callback as ref

from trainer_loop.callbacks import PrinterCallback, ProgressCallback, progress
from trainer_loop.state import TrainerControl, TrainerState

ARGS = SimpleNamespace()
LOGS = {
    "loss": 0.123456789,
    "learning_rate": 5e-05,
    "grad_norm": 1.5,
    "epoch": 0.5,
    "step_note": "x" * 150,
    "total_flos": 12345.0,
    "n": 3,
}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(
    cb: Any,
    steps: int,
    *,
    rank_zero: bool = True,
    log_every: int = 0,
    evals: int = 0,
    eval_batches: int = 4,
) -> TrainerState:
    """Drive the callback like the Trainer does: steps, logs, evaluation batches."""
    state = TrainerState(
        max_steps=steps, is_world_process_zero=rank_zero, is_local_process_zero=rank_zero
    )
    control = TrainerControl()
    cb.on_train_begin(ARGS, state, control)
    for step in range(1, steps + 1):
        state.global_step, state.epoch = step, step / steps
        cb.on_step_end(ARGS, state, control)
        if log_every and step % log_every == 0:
            cb.on_log(ARGS, state, control, logs=dict(LOGS))
        if evals and step == steps:
            for _ in range(eval_batches):
                cb.on_prediction_step(ARGS, state, control, eval_dataloader=[0] * eval_batches)
            cb.on_evaluate(ARGS, state, control, metrics={})
    cb.on_train_end(ARGS, state, control)
    return state


def test_logs_are_printed_as_transformers_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    _train(ref.ProgressCallback(), 4, log_every=2)
    theirs = capsys.readouterr().out
    _train(ProgressCallback(), 4, log_every=2)
    ours = capsys.readouterr().out
    assert ours == theirs
    assert "'loss': '0.1235'" in ours and "String too long to display, length: 150 > 100" in ours
    assert "total_flos" not in ours


def test_on_log_leaves_the_callers_dict_untouched() -> None:
    cb, logs = ProgressCallback(file=io.StringIO(), log_file=io.StringIO()), dict(LOGS)
    state = TrainerState(max_steps=2)
    cb.on_train_begin(ARGS, state, TrainerControl())
    cb.on_log(ARGS, state, TrainerControl(), logs=logs)
    assert logs == LOGS


def test_line_mode_is_bounded_on_a_non_tty_stream() -> None:
    bars, logs = io.StringIO(), io.StringIO()
    _train(
        ProgressCallback(file=bars, log_file=logs), 1000, log_every=100, evals=1, eval_batches=200
    )
    lines = bars.getvalue().splitlines()
    assert "\r" not in bars.getvalue()
    # ~21 training-bar lines, ~21 eval-bar lines, the final line of each.
    assert len(lines) < 50
    assert any("1000/1000" in line for line in lines)
    assert any("200/200" in line for line in lines)
    assert "loss=0.1235" in lines[-1] and "lr=5e-05" in lines[-1]
    assert len(logs.getvalue().splitlines()) == 10


def test_live_bar_on_a_tty_stream() -> None:
    bars, logs = _Tty(), io.StringIO()
    _train(ProgressCallback(file=bars, log_file=logs), 20, log_every=10, evals=1)
    text = bars.getvalue()
    assert "\r" in text and "20/20" in text
    assert "loss=0.1235" in text
    assert len(logs.getvalue().splitlines()) == 2


def test_eval_bar_closes_and_reopens() -> None:
    cb = ProgressCallback(file=io.StringIO(), log_file=io.StringIO())
    state, control = TrainerState(max_steps=1), TrainerControl()
    for _ in range(2):
        for _ in range(3):
            cb.on_prediction_step(ARGS, state, control, eval_dataloader=[1, 2, 3])
        assert cb.prediction_bar is not None and cb.prediction_bar.bar.n == 3
        cb.on_predict(ARGS, state, control, metrics={})
        assert cb.prediction_bar is None
    cb.on_prediction_step(ARGS, state, control, eval_dataloader=iter([1]))  # no length: no bar
    assert cb.prediction_bar is None


class _Clock:
    """The bars' clock, moved only by the test: timings are exact and nothing sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(tqdm.std, "time", fake)  # tqdm's rates and elapsed times
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=fake))  # line pacing
    return fake


def _evaluate(cb: Any, clock: _Clock, batches: int, seconds_per_batch: float = 0.0) -> None:
    """A stand-alone evaluation as the Trainer reports it: each batch runs, then is announced."""
    state, control, loader = TrainerState(), TrainerControl(), [0] * batches
    for _ in range(batches):
        clock.now += seconds_per_batch
        cb.on_prediction_step(ARGS, state, control, eval_dataloader=loader)
    cb.on_evaluate(ARGS, state, control, metrics={})


def test_short_evaluations_print_no_bar_lines_on_a_non_tty_stream(clock: _Clock) -> None:
    # A few quick batches: the metrics line says it all, and a bar line could only show a
    # rate measured over no time ("1/1 [00:00<00:00, 73584it/s]").
    bars = io.StringIO()
    cb = ProgressCallback(file=bars, log_file=io.StringIO())
    for batches in (1, 3, 19):
        _evaluate(cb, clock, batches)
    assert bars.getvalue() == ""
    # The same during training: the training bar keeps all its lines, the evaluation has none.
    _train(cb, 4, evals=1, eval_batches=3)
    lines = bars.getvalue().splitlines()
    assert [line.split("|")[2].split()[0] for line in lines] == [
        *("0/4", "1/4", "2/4", "3/4", "4/4"),
        "4/4",  # tqdm's closing line
    ]


def test_slow_short_evaluation_still_reports_progress(clock: _Clock) -> None:
    bars = io.StringIO()
    _evaluate(ProgressCallback(file=bars, log_file=io.StringIO()), clock, 3, seconds_per_batch=40)
    lines = bars.getvalue().splitlines()
    assert len(lines) == 2  # a line whenever 30 s pass without one; the last one is 3/3
    assert "2/3 [00:40<00:40, 40.00s/it]" in lines[0]
    assert "3/3 [01:20<00:00, 40.00s/it]" in lines[1]


def test_long_evaluation_lines_show_the_true_rate(clock: _Clock) -> None:
    bars = io.StringIO()
    _evaluate(ProgressCallback(file=bars, log_file=io.StringIO()), clock, 40, seconds_per_batch=0.5)
    lines = bars.getvalue().splitlines()
    # Every 5% (2 batches), no "0/40" opening line, and the final line only once.
    assert [line.split("|")[2].split()[0] for line in lines] == [f"{n}/40" for n in range(2, 41, 2)]
    # Timed from the end of the first batch, when the bar appears: 2 batches a second, always.
    assert all("2.00it/s]" in line for line in lines)


def test_nothing_is_printed_on_other_ranks(capsys: pytest.CaptureFixture[str]) -> None:
    bars, logs = io.StringIO(), io.StringIO()
    _train(ProgressCallback(file=bars, log_file=logs), 10, rank_zero=False, log_every=2, evals=1)
    _train(PrinterCallback(), 10, rank_zero=False, log_every=2)
    assert bars.getvalue() == logs.getvalue() == ""
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_printer_matches_transformers_and_pops_total_flos(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printed, dicts = [], []
    for cb in (ref.PrinterCallback(), PrinterCallback()):
        logs = dict(LOGS)
        cb.on_log(ARGS, TrainerState(), TrainerControl(), logs=logs)
        printed.append(capsys.readouterr().out)
        dicts.append(logs)
    assert printed[0] == printed[1]
    assert dicts[0] == dicts[1] and "total_flos" not in dicts[1]
    assert "'learning_rate': '5e-05'" in printed[1]
