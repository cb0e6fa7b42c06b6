"""DefaultFlowCallback and EarlyStoppingCallback driven side by side with transformers'.

A small driver plays the Trainer's event sequence (epochs, GA substeps, log/eval/save when
asked) against a CallbackHandler; the same driver runs transformers' classes with the same
arguments, and the recorded control flags must be identical at every event.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import transformers
from transformers import trainer_callback as ref

from trainer_loop import state as ours_state
from trainer_loop.callbacks import early_stopping as ours_es
from trainer_loop.callbacks import flow as ours_flow
from trainer_loop.callbacks import handler as ours_handler

OURS = SimpleNamespace(
    State=ours_state.TrainerState,
    Control=ours_state.TrainerControl,
    Handler=ours_handler.CallbackHandler,
    Flow=ours_flow.DefaultFlowCallback,
    EarlyStopping=ours_es.EarlyStoppingCallback,
)
THEIRS = SimpleNamespace(
    State=ref.TrainerState,
    Control=ref.TrainerControl,
    Handler=ref.CallbackHandler,
    Flow=ref.DefaultFlowCallback,
    EarlyStopping=ref.EarlyStoppingCallback,
)

FLAGS = (
    "should_training_stop",
    "should_epoch_stop",
    "should_save",
    "should_evaluate",
    "should_log",
)


class Recorder:
    """Duck-typed callback: records every event with the step and the control flags."""

    def __init__(self, stop_at: int | None = None, epoch_stop_at: int | None = None) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.stop_at, self.epoch_stop_at = stop_at, epoch_stop_at

    def __getattr__(self, event: str) -> Any:
        if not event.startswith("on_"):
            raise AttributeError(event)

        def record(args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if event == "on_step_end" and state.global_step == self.stop_at:
                control.should_training_stop = True
            if event == "on_step_end" and state.global_step == self.epoch_stop_at:
                control.should_epoch_stop = True
            flags = tuple(getattr(control, f) for f in FLAGS)
            self.events.append((event, state.global_step, round(state.epoch, 6), flags))
            return None

        return record


def _metrics(values: Iterator[float], state: Any) -> dict[str, float]:
    return {"eval_loss": next(values, 1.0), "epoch": state.epoch}


def _update_best(args: Any, state: Any, metrics: dict[str, float]) -> None:
    # What the Trainer does after on_evaluate when tracking the best model.
    name = args.metric_for_best_model
    if name is None:
        return
    value = metrics.get(name if name.startswith("eval_") else f"eval_{name}")
    if value is None:
        return
    better = state.best_metric is None or (
        value > state.best_metric if args.greater_is_better else value < state.best_metric
    )
    if better:
        state.best_metric, state.best_global_step = value, state.global_step


def _log_save_evaluate(
    lib: Any, h: Any, args: Any, state: Any, control: Any, values: Iterator[float]
) -> Any:
    if control.should_log:
        control = h.on_log(args, state, control, logs={"loss": 0.5})
    if control.should_evaluate:
        metrics = _metrics(values, state)
        control = h.on_evaluate(args, state, control, metrics=metrics)
        _update_best(args, state, metrics)
    if control.should_save:
        control = h.on_save(args, state, control)
    return control


def drive(
    lib: Any,
    args: Any,
    steps_per_epoch: int,
    epochs: int,
    ga: int = 1,
    extra: list[Any] | None = None,
    metric_values: list[float] | None = None,
    **recorder_kwargs: Any,
) -> tuple[list[Any], Any]:
    """Play a training run; returns the recorded events and the final state."""
    recorder = Recorder(**recorder_kwargs)
    callbacks = [lib.Flow, *(extra or []), recorder]
    h = lib.Handler(callbacks, model=None, processing_class=None, optimizer=None, lr_scheduler=None)
    state, control = lib.State(), lib.Control()
    max_steps = args.max_steps if args.max_steps > 0 else steps_per_epoch * epochs
    state.compute_steps(args, max_steps)
    state.max_steps, state.num_train_epochs = max_steps, epochs
    values = iter(metric_values or [])
    control = h.on_train_begin(args, state, control)
    for epoch in range(epochs):
        control = h.on_epoch_begin(args, state, control)
        for step in range(steps_per_epoch):
            control = h.on_step_begin(args, state, control)
            for _ in range(ga - 1):
                control = h.on_substep_end(args, state, control)
            control = h.on_pre_optimizer_step(args, state, control)
            control = h.on_optimizer_step(args, state, control)
            state.global_step += 1
            state.epoch = epoch + (step + 1) / steps_per_epoch
            control = h.on_step_end(args, state, control)
            control = _log_save_evaluate(lib, h, args, state, control, values)
            if control.should_epoch_stop or control.should_training_stop:
                break
        control = h.on_epoch_end(args, state, control)
        control = _log_save_evaluate(lib, h, args, state, control, values)
        if control.should_training_stop or state.global_step >= max_steps:
            break
    control = h.on_train_end(args, state, control)
    return recorder.events, state


def make_args(**overrides: Any) -> SimpleNamespace:
    """The fields the flow reads, with TrainingArguments' defaults, as plain strings."""
    fields: dict[str, Any] = {
        "max_steps": -1,
        "logging_strategy": "steps",
        "logging_steps": 500,
        "logging_first_step": False,
        "eval_strategy": "no",
        "eval_steps": None,
        "eval_delay": 0,
        "save_strategy": "steps",
        "save_steps": 500,
        "metric_for_best_model": None,
        "greater_is_better": None,
        "load_best_model_at_end": False,
    }
    fields.update(overrides)
    if fields["eval_strategy"] != "no" and fields["eval_steps"] is None:
        fields["eval_steps"] = fields["logging_steps"]  # as TrainingArguments.__post_init__ does
    return SimpleNamespace(**fields)


def _both(args: Any, **kwargs: Any) -> list[Any]:
    ours, _ = drive(OURS, args, **kwargs)
    theirs, _ = drive(THEIRS, args, **kwargs)
    assert ours == theirs
    return ours


STRATEGIES = ["no", "steps", "epoch"]
COMBOS = [
    dict(logging_strategy=ls, eval_strategy=es, save_strategy=ss)
    for ls, es, ss in itertools.product(STRATEGIES, STRATEGIES, [*STRATEGIES, "best"])
]
STEP_SETTINGS = [
    dict(logging_steps=2, eval_steps=5, save_steps=5),
    dict(logging_steps=3, eval_steps=3, save_steps=3, logging_first_step=True),
    dict(logging_steps=0.25, eval_steps=0.5, save_steps=0.3),
    dict(logging_steps=1, eval_steps=2, save_steps=4, eval_delay=3),
    dict(logging_steps=4, eval_steps=4, save_steps=0, eval_delay=1.5),
]


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: "-".join(c.values()))
@pytest.mark.parametrize("settings", range(len(STEP_SETTINGS)))
def test_flow_matches_transformers(combo: dict[str, str], settings: int) -> None:
    args = make_args(**combo, **STEP_SETTINGS[settings])
    _both(args, steps_per_epoch=4, epochs=3)


@pytest.mark.parametrize(
    "run",
    [
        dict(max_steps=7, steps_per_epoch=10, epochs=1),
        dict(max_steps=10, steps_per_epoch=3, epochs=4),
        dict(max_steps=-1, steps_per_epoch=5, epochs=2, ga=3),
        dict(max_steps=-1, steps_per_epoch=5, epochs=3, stop_at=7),
        dict(max_steps=-1, steps_per_epoch=5, epochs=3, epoch_stop_at=2),
    ],
    ids=["max-steps-mid-epoch", "max-steps-over-epochs", "grad-accum", "stop", "epoch-stop"],
)
def test_flow_runs_match_transformers(run: dict[str, Any]) -> None:
    args = make_args(
        max_steps=run.pop("max_steps"),
        logging_steps=3,
        eval_strategy="steps",
        eval_steps=3,
        save_steps=3,
    )
    _both(args, **run)


def _steps_where(events: list[Any], flag: str, event: str = "on_step_end") -> list[int]:
    idx = FLAGS.index(flag)
    return [step for name, step, _, flags in events if name == event and flags[idx]]


def test_spec_examples() -> None:
    events = _both(
        make_args(max_steps=7, logging_steps=3, eval_strategy="steps", eval_steps=3, save_steps=3),
        steps_per_epoch=7,
        epochs=1,
    )
    assert _steps_where(events, "should_log") == [3, 6]
    assert _steps_where(events, "should_evaluate") == [3, 6, 7]
    assert _steps_where(events, "should_save") == [3, 6, 7]
    events = _both(
        make_args(eval_strategy="epoch", eval_delay=2, save_strategy="no"),
        steps_per_epoch=2,
        epochs=3,
    )
    assert [e for name, _, e, f in events if name == "on_epoch_end" and f[3]] == [2.0, 3.0]


@pytest.mark.parametrize("args_cls", ["transformers", "trainer_args"])
def test_flow_with_real_training_arguments(tmp_path: Any, args_cls: str) -> None:
    cls = transformers.TrainingArguments
    if args_cls == "trainer_args":
        cls = pytest.importorskip("trainer_args").TrainingArguments
    args = cls(
        output_dir=str(tmp_path),
        logging_steps=0.25,
        eval_strategy="steps",
        eval_steps=0.5,
        save_steps=0.3,
        max_steps=10,
        report_to="none",
        logging_first_step=True,
    )
    events = _both(args, steps_per_epoch=10, epochs=1)
    assert _steps_where(events, "should_save") == [3, 6, 9, 10]
    assert _steps_where(events, "should_evaluate") == [5, 10]
    assert _steps_where(events, "should_log") == [1, 3, 6, 9]


def test_handler_resets_flags_before_events() -> None:
    h = OURS.Handler([OURS.Flow], None, None, None, None)
    args, state = make_args(), OURS.State()
    control = OURS.Control(*(True,) * 5)
    h.on_step_begin(args, state, control)
    assert dataclasses.astuple(control) == (True, True, False, False, False)
    h.on_epoch_begin(args, state, control)
    h.on_train_begin(args, state, control)
    assert not control.should_epoch_stop and not control.should_training_stop
    for event, flag in (
        ("on_log", "should_log"),
        ("on_evaluate", "should_evaluate"),
        ("on_save", "should_save"),
    ):
        setattr(control, flag, True)
        kwargs = (
            {"logs": {}} if event == "on_log" else {"metrics": {}} if event == "on_evaluate" else {}
        )
        getattr(h, event)(args, state, control, **kwargs)
        assert not getattr(control, flag)


ES_CASES = [
    (False, 2, 0.0, [0.5, 0.4, 0.45, 0.46, 0.3, 0.2]),
    (True, 2, 0.0, [0.5, 0.6, 0.4, 0.7, 0.65, 0.6, 0.8]),
    (False, 1, 0.0, [0.5, 0.5, 0.1]),
    (False, 3, 0.05, [1.0, 0.97, 0.9, 0.88, 0.86, 0.85, 0.2]),
    (True, 1, 0.1, [0.1, 0.25, 0.3]),
]


@pytest.mark.parametrize(("greater", "patience", "threshold", "values"), ES_CASES)
def test_early_stopping_matches_transformers(
    greater: bool, patience: int, threshold: float, values: list[float]
) -> None:
    args = make_args(
        eval_strategy="steps",
        eval_steps=1,
        metric_for_best_model="loss",
        greater_is_better=greater,
        load_best_model_at_end=True,
    )
    results = []
    for lib in (OURS, THEIRS):
        es = lib.EarlyStopping(patience, threshold)
        events, state = drive(
            lib, args, steps_per_epoch=len(values), epochs=1, extra=[es], metric_values=list(values)
        )
        results.append((events, state.global_step, state.best_metric, es.state()))
    assert results[0] == results[1]


def test_spec_early_stopping_example() -> None:
    args = make_args(
        eval_strategy="steps",
        eval_steps=1,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        load_best_model_at_end=True,
    )
    es = OURS.EarlyStopping(early_stopping_patience=2)
    _, state = drive(
        OURS, args, steps_per_epoch=10, epochs=1, extra=[es], metric_values=[0.5, 0.4, 0.45, 0.46]
    )
    assert (state.global_step, state.best_metric, state.best_global_step) == (4, 0.4, 2)


def test_early_stopping_checks_and_missing_metric(caplog: pytest.LogCaptureFixture) -> None:
    es = OURS.EarlyStopping()
    state, control = OURS.State(), OURS.Control()
    with pytest.raises(AssertionError, match="metric_for_best_model"):
        es.on_train_begin(make_args(eval_strategy="steps"), state, control)
    with pytest.raises(AssertionError, match="IntervalStrategy"):
        es.on_train_begin(
            make_args(metric_for_best_model="loss", load_best_model_at_end=True), state, control
        )
    with caplog.at_level("WARNING"):
        es.on_train_begin(
            make_args(eval_strategy="epoch", metric_for_best_model="loss"), state, control
        )
    assert "without load_best_model_at_end=True" in caplog.text
    args = make_args(
        eval_strategy="epoch", metric_for_best_model="accuracy", greater_is_better=True
    )
    for _ in range(3):
        es.on_evaluate(args, state, control, metrics={"eval_loss": 0.1})
    assert not control.should_training_stop and es.early_stopping_patience_counter == 0
    assert "did not find eval_accuracy so early stopping is disabled" in caplog.text
