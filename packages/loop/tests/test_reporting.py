"""Reporting: report_to resolution, file loggers, TensorBoard, trackers, throughput."""

from __future__ import annotations

import csv
import importlib.machinery
import importlib.util
import json
import math
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from transformers.integrations import integration_utils as ref

from trainer_loop.reporting import (
    REPORT_TO_NAMES,
    CSVCallback,
    JSONLCallback,
    ThroughputMeter,
    get_reporting_integration_callbacks,
    resolve_report_to,
    rewrite_logs,
    throughput_metrics,
    training_flops_per_token,
)
from trainer_loop.reporting import common as common_mod
from trainer_loop.state import TrainerControl, TrainerState

TRAIN_LOGS = [
    {"loss": 2.5, "grad_norm": 1.25, "learning_rate": 5e-05, "epoch": 0.5},
    {"loss": 1.0000000000000002, "grad_norm": 0.5, "learning_rate": 2.5e-05, "epoch": 1.0},
]
EVAL_LOGS = {"eval_loss": 0.75, "eval_runtime": 0.1, "eval_samples_per_second": 100.0, "epoch": 1.0}
FINAL_LOGS = {"train_runtime": 3.5, "train_loss": 1.75, "total_flos": 123456.0, "epoch": 1.0}


def _args(tmp_path: Path, **extra: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {"output_dir": str(tmp_path), "run_name": None, **extra}
    return SimpleNamespace(
        to_json_string=lambda: '{"lr": 1}',
        to_dict=lambda: {"lr": 1, "output_dir": str(tmp_path)},
        **fields,
    )


def _run(
    callback: Any, args: Any, *, start_step: int = 0, rank_zero: bool = True
) -> list[dict[str, Any]]:
    """Train begin, two train logs, an eval log and the final log; returns what was fed in."""
    state = TrainerState(global_step=start_step, is_world_process_zero=rank_zero, logging_steps=5)
    control = TrainerControl()
    callback.on_train_begin(args, state, control, model=None)
    fed = []
    for logs in (*TRAIN_LOGS, EVAL_LOGS, FINAL_LOGS):
        if logs is not EVAL_LOGS:
            state.global_step += 5
        state.epoch = logs["epoch"]
        callback.on_log(args, state, control, logs=dict(logs))
        fed.append({"step": state.global_step, **logs})
    callback.on_train_end(args, state, control)
    return fed


# ---------------------------------------------------------------- report_to
def test_report_to_resolution() -> None:
    assert resolve_report_to(None) == [] and resolve_report_to("none") == []
    assert resolve_report_to(["none"]) == []
    assert resolve_report_to("tensorboard") == ["tensorboard"]
    assert resolve_report_to(["jsonl", "csv"]) == ["jsonl", "csv"]
    assert resolve_report_to("all") == ref.get_available_reporting_integrations()
    assert [c.__name__ for c in get_reporting_integration_callbacks(["tensorboard", "jsonl"])] == [
        "TensorBoardCallback",
        "JSONLCallback",
    ]
    assert list(REPORT_TO_NAMES[:14]) == list(ref.INTEGRATION_TO_CALLBACK)


@pytest.mark.parametrize("bad", [["bogus"], [None]])
def test_unknown_report_to_raises_like_transformers(bad: list[Any]) -> None:
    with pytest.raises(ValueError) as theirs:
        ref.get_reporting_integration_callbacks(bad)
    with pytest.raises(ValueError) as ours:
        get_reporting_integration_callbacks(bad)
    expected = str(theirs.value).replace(" are supported.", ", jsonl, csv are supported.")
    assert str(ours.value) == expected


@pytest.mark.parametrize("name", ["mlflow", "wandb", "comet_ml", "clearml", "dvclive", "trackio"])
def test_missing_tracker_package_names_it(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common_mod.importlib.util, "find_spec", lambda module: None)
    (cls,) = get_reporting_integration_callbacks([name])
    with pytest.raises(
        RuntimeError, match=rf"report_to='{name}' needs the `[\w.]+` package.*pip install"
    ):
        cls()


def test_installed_but_unsupported_tracker_warns_only(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common_mod.importlib.util, "find_spec", lambda module: object())
    (cls,) = get_reporting_integration_callbacks(["clearml"])
    with caplog.at_level("WARNING"):
        cls()
    assert "no clearml integration" in caplog.text


def test_rewrite_logs_matches_transformers() -> None:
    logs = {
        "loss": 1.0,
        "eval_loss": 2.0,
        "test_acc": 0.5,
        "eval_": 1,
        "evaluation": 3,
        "epoch": 1.0,
    }
    assert rewrite_logs(logs) == ref.rewrite_logs(logs)


# ---------------------------------------------------------------- files
def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {k: float(v) if k != "step" else int(v) for k, v in row.items() if v != ""} for row in rows
    ]


def test_jsonl_reads_back_the_logs(tmp_path: Path) -> None:
    fed = _run(JSONLCallback(), _args(tmp_path))
    assert _read_jsonl(tmp_path / "log_history.jsonl") == fed


def test_csv_reads_back_the_logs_with_growing_columns(tmp_path: Path) -> None:
    fed = _run(CSVCallback(), _args(tmp_path))
    path = tmp_path / "log_history.csv"
    assert _read_csv(path) == fed
    header = path.read_text().splitlines()[0].split(",")
    assert header[:2] == ["step", "epoch"] and len(header) == len(set(header))
    assert set(header) == {k for logs in fed for k in logs}


@pytest.mark.parametrize("cls", [JSONLCallback, CSVCallback])
def test_files_restart_on_fresh_runs_and_trim_on_resume(tmp_path: Path, cls: type) -> None:
    read = _read_jsonl if cls is JSONLCallback else _read_csv
    path = tmp_path / f"log_history.{cls.extension}"
    _run(cls(), _args(tmp_path))
    fed = _run(cls(), _args(tmp_path))  # a new run from scratch: the old records go
    assert read(path) == fed
    resumed = _run(cls(), _args(tmp_path), start_step=10)  # resume from checkpoint-10
    assert read(path) == fed[:3] + resumed  # records up to step 10 stay
    state = TrainerState(global_step=30)
    cls().on_log(
        _args(tmp_path), state, TrainerControl(), logs={"eval_loss": 0.5}
    )  # evaluate() only
    assert read(path)[-1] == {"step": 30, "epoch": 0.0, "eval_loss": 0.5}


@pytest.mark.parametrize("cls", [JSONLCallback, CSVCallback])
def test_files_only_on_the_main_process(tmp_path: Path, cls: type) -> None:
    _run(cls(), _args(tmp_path), rank_zero=False)
    assert list(tmp_path.iterdir()) == []


def test_jsonl_survives_odd_values(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    cb, state = JSONLCallback(), TrainerState(global_step=1)
    cb.on_log(
        _args(tmp_path),
        state,
        TrainerControl(),
        logs={"nan": math.nan, "t": torch.tensor(2.5), "s": "text"},
    )
    (row,) = _read_jsonl(tmp_path / "log_history.jsonl")
    assert math.isnan(row["nan"]) and row["t"] == 2.5 and row["s"] == "text"


def test_a_file_logger_missing_a_method_fails_at_instantiation() -> None:
    from trainer_loop.reporting.files import _FileLogger

    class NoAppend(_FileLogger):
        extension = "txt"

        def read(self, path: Path) -> list[dict[str, Any]]:
            return []

        def rewrite(self, path: Path, records: list[dict[str, Any]]) -> None:
            path.write_text("")

    with pytest.raises(TypeError, match="append"):
        NoAppend()  # type: ignore[abstract]


# ---------------------------------------------------------------- tensorboard
def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_scalars_match_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer_loop.reporting.tensorboard import TensorBoardCallback

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "ours"))
    _run(TensorBoardCallback(), _args(tmp_path))
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "theirs"))
    _run(ref.TensorBoardCallback(), _args(tmp_path))
    ours = _scalars(tmp_path / "ours")
    assert ours == _scalars(tmp_path / "theirs")
    assert ours["train/loss"] == [(5, 2.5), (10, 1.0)] and ours["eval/loss"] == [(10, 0.75)]


def test_tensorboard_default_dir_and_args_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainer_loop.reporting.tensorboard import TensorBoardCallback

    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    _run(TensorBoardCallback(), _args(tmp_path))
    (logdir,) = (tmp_path / "runs").iterdir()
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    assert "args/text_summary" in acc.Tags()["tensors"]
    assert "train/train_loss" in acc.Tags()["scalars"]


def test_tensorboard_missing_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer_loop.reporting import tensorboard as tb

    monkeypatch.setattr(tb, "is_installed", lambda module: False)
    with pytest.raises(RuntimeError, match="`tensorboard` package"):
        tb.TensorBoardCallback()


# ---------------------------------------------------------------- trackers
class _Recorder(types.ModuleType):
    """A stand-in tracker module recording every call made on it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        self.calls: list[tuple[str, Any, Any]] = []

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return lambda *a, **k: self.calls.append((attr, a, k))


def _fake(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> _Recorder:
    module = _Recorder(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_mlflow_callback_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[Any] = []
    fake = _fake(
        monkeypatch,
        "mlflow",
        active_run=lambda: runs[-1] if runs else None,
        is_tracking_uri_set=lambda: False,
    )
    fake.start_run = lambda **k: runs.append(k)  # type: ignore[attr-defined]
    fake.end_run = lambda: runs.clear()  # type: ignore[attr-defined]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path}")
    (cls,) = get_reporting_integration_callbacks(["mlflow"])
    _run(cls(), _args(tmp_path, run_name="r1"))
    names = [c[0] for c in fake.calls]
    assert names[0] == "set_tracking_uri" and names[1] == "log_params"
    assert fake.calls[1][1][0] == {"lr": 1, "output_dir": str(tmp_path)}
    metrics = [c[2] for c in fake.calls if c[0] == "log_metrics"]
    assert metrics[0] == {"metrics": TRAIN_LOGS[0], "step": 5}
    assert metrics[2] == {"metrics": EVAL_LOGS, "step": 10}
    assert runs == []  # the run we started was ended


def test_mlflow_for_real_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{tmp_path / 'mlruns'}")
    # mlflow 3.x keeps its local file store only on request (no database server in tests).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from trainer_loop.reporting.mlflow import MLflowCallback

    cb = MLflowCallback()
    _run(cb, _args(tmp_path))
    (run,) = mlflow.search_runs(output_format="list")
    client = mlflow.tracking.MlflowClient()
    for key in ("loss", "grad_norm", "learning_rate"):
        history = client.get_metric_history(run.info.run_id, key)
        assert [m.value for m in history] == [log[key] for log in TRAIN_LOGS], key
    assert run.data.metrics["eval_loss"] == EVAL_LOGS["eval_loss"]


def test_wandb_callback_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary: dict[str, Any] = {}
    fake = _fake(monkeypatch, "wandb", run=None)
    fake.init = lambda **k: setattr(fake, "run", SimpleNamespace(summary=summary, id="x", name="n"))  # type: ignore[attr-defined]
    fake.config = SimpleNamespace(update=lambda d, **k: fake.calls.append(("config", d, k)))  # type: ignore[attr-defined]
    monkeypatch.setenv("WANDB_PROJECT", "proj")
    (cls,) = get_reporting_integration_callbacks(["wandb"])
    _run(cls(), _args(tmp_path, run_name="r1"))
    logged = [c[1][0] for c in fake.calls if c[0] == "log"]
    assert logged[0] == {**ref.rewrite_logs(TRAIN_LOGS[0]), "train/global_step": 5}
    assert logged[2] == {**ref.rewrite_logs(EVAL_LOGS), "train/global_step": 10}
    assert logged[3] == {"train/epoch": 1.0, "train/global_step": 15}
    assert summary == {k: v for k, v in FINAL_LOGS.items() if k != "epoch"}


def _tracker_args(tmp_path: Path, **extra: Any) -> SimpleNamespace:
    fields = {
        "project": "proj",
        "trackio_space_id": None,
        "trackio_bucket_id": None,
        "hub_private_repo": None,
        **extra,
    }
    return _args(tmp_path, **fields)


def test_trackio_callback_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake(monkeypatch, "trackio")
    (cls,) = get_reporting_integration_callbacks(["trackio"])
    assert cls.__name__ == "TrackioCallback"
    _run(cls(), _tracker_args(tmp_path, run_name="r1"))
    assert [c[0] for c in fake.calls] == ["init", "log", "log", "log", "log", "finish"]
    assert fake.calls[0][2] == {
        "project": "proj",
        "name": "r1",
        "space_id": None,
        "resume": "allow",
        "private": None,
        "bucket_id": None,
        "config": {"lr": 1, "output_dir": str(tmp_path)},
    }
    logged = [c[1][0] for c in fake.calls if c[0] == "log"]
    assert logged[0] == {**ref.rewrite_logs(TRAIN_LOGS[0]), "train/global_step": 5}
    assert logged[1] == {**ref.rewrite_logs(TRAIN_LOGS[1]), "train/global_step": 10}
    assert logged[2] == {**ref.rewrite_logs(EVAL_LOGS), "train/global_step": 10}
    # End-of-training numbers stay out of the step history, as in transformers.
    assert logged[3] == {"train/epoch": 1.0, "train/global_step": 15}


def test_trackio_config_merges_model_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake(monkeypatch, "trackio", config={})
    from trainer_loop.reporting.trackio import TrackioCallback

    model = SimpleNamespace(config={"hidden": 4, "lr": 9}, num_parameters=lambda: 42)
    cb, state = TrackioCallback(), TrainerState(is_world_process_zero=True)
    cb.on_train_begin(_tracker_args(tmp_path), state, TrainerControl(), model=model)
    (init,) = fake.calls
    assert init[2]["config"] == {"hidden": 4, "lr": 1, "output_dir": str(tmp_path)}
    assert init[2]["project"] == "proj" and init[2]["name"] is None
    assert fake.config == {"model/num_parameters": 42}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["trackio", "comet_ml"])
def test_trackers_silent_off_the_main_process(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _fake(monkeypatch, name)
    (cls,) = get_reporting_integration_callbacks([name])
    _run(cls(), _tracker_args(tmp_path), rank_zero=False)
    assert fake.calls == []


def _fake_comet(monkeypatch: pytest.MonkeyPatch) -> tuple[_Recorder, list[_Recorder]]:
    experiments: list[_Recorder] = []

    def start(**kwargs: Any) -> _Recorder:
        experiment = _Recorder("experiment")
        experiment.get_key = lambda: "k" * 32  # type: ignore[attr-defined]
        experiment.calls.append(("start", (), kwargs))
        experiments.append(experiment)
        return experiment

    fake = _fake(
        monkeypatch,
        "comet_ml",
        start=start,
        ExperimentConfig=lambda **k: SimpleNamespace(**k),
        config=SimpleNamespace(get_config=lambda key: None),
    )
    return fake, experiments


def test_comet_callback_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, experiments = _fake_comet(monkeypatch)
    monkeypatch.setenv("COMET_MODE", "offline")
    monkeypatch.setenv("COMET_PROJECT_NAME", "proj")
    monkeypatch.setenv("COMET_OFFLINE_DIRECTORY", str(tmp_path / "comet"))
    monkeypatch.setenv("COMET_LOG_ASSETS", "TRUE")
    (cls,) = get_reporting_integration_callbacks(["comet_ml"])
    assert cls.__name__ == "CometCallback"
    cb, args = cls(), _tracker_args(tmp_path, run_name="r1")
    fed = _run(cb, args)
    (experiment,) = experiments
    names = [c[0] for c in experiment.calls]
    assert names == ["start", "log_parameters", *["log_metrics"] * 4, "log_asset_folder", "end"]
    start = experiment.calls[0][2]
    assert start["experiment_config"] == SimpleNamespace(
        name="r1", offline_directory=str(tmp_path / "comet")
    )
    assert {k: start[k] for k in ("mode", "online", "project_name")} == {
        "mode": None,
        "online": False,
        "project_name": "proj",
    }
    assert experiment.calls[1][1:] == (
        ({"args": {"lr": 1, "output_dir": str(tmp_path)}},),
        {"nested_support": True},
    )
    metrics = [c[1:] for c in experiment.calls if c[0] == "log_metrics"]
    for (logged, kwargs), logs in zip(metrics, fed, strict=True):
        logs = dict(logs)
        step = logs.pop("step")
        assert logged == (ref.rewrite_logs(logs),)
        assert kwargs == {"step": step, "epoch": logs["epoch"]}
    assert experiment.calls[-2][2]["step"] == 15
    # evaluate() after train(): appended to the same experiment, not a new one.
    cb.on_log(args, TrainerState(global_step=15, epoch=1.0), TrainerControl(), logs=EVAL_LOGS)
    assert experiments[1].calls[0][2]["mode"] == "get"
    assert experiments[1].calls[0][2]["experiment_key"] == "k" * 32
    assert [c[0] for c in experiments[1].calls] == ["start", "log_metrics"]


@pytest.mark.parametrize(
    ("mode", "search", "expected"),
    [("create", False, "create"), ("get_or_create", True, "create"), (None, True, "create")],
)
def test_comet_modes(
    mode: str | None, search: bool, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, experiments = _fake_comet(monkeypatch)
    if mode is None:
        monkeypatch.delenv("COMET_MODE", raising=False)
    else:
        monkeypatch.setenv("COMET_MODE", mode)
    from trainer_loop.reporting.comet import CometCallback

    state = TrainerState(is_world_process_zero=True, is_hyper_param_search=search)
    state.trial_name, state.trial_params = "t0", {"lr": 0.1}
    CometCallback().on_train_begin(_tracker_args(tmp_path), state, TrainerControl())
    (experiment,) = experiments
    assert experiment.calls[0][2]["mode"] == expected
    if search:
        assert experiment.calls[-1] == (
            "log_optimization",
            (),
            {"optimization_id": "t0", "parameters": {"lr": 0.1}},
        )


def test_comet_bad_mode_disables_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, experiments = _fake_comet(monkeypatch)
    monkeypatch.setenv("COMET_MODE", "bogus")
    from trainer_loop.reporting.comet import CometCallback

    with caplog.at_level("WARNING"):
        _run(CometCallback(), _tracker_args(tmp_path))
    assert experiments == [] and "Invalid COMET_MODE" in caplog.text


def test_comet_too_old_names_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_comet(monkeypatch)
    from trainer_loop.reporting import comet

    monkeypatch.setattr(comet.importlib.metadata, "version", lambda name: "3.40.1")
    with pytest.raises(RuntimeError, match=r"comet_ml>=3\.43\.2"):
        comet.CometCallback()


def test_report_to_all_needs_a_comet_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_comet(monkeypatch)
    monkeypatch.delenv("COMET_API_KEY", raising=False)
    assert "comet_ml" not in resolve_report_to("all")
    monkeypatch.setenv("COMET_API_KEY", "key")
    assert "comet_ml" in resolve_report_to("all")


def test_trackio_for_real_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("trackio") is None:
        pytest.skip("trackio is not installed")
    # trackio reads TRACKIO_DIR when imported: import a fresh copy that sees tmp_path.
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    for var in ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "TRACKIO_BUCKET_ID", "SYSTEM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in [m for m in sys.modules if m == "trackio" or m.startswith("trackio.")]:
        monkeypatch.delitem(sys.modules, name)
    from trackio.api import Api
    from trackio.sqlite_storage import SQLiteStorage

    from trainer_loop.reporting.trackio import TrackioCallback

    _run(TrackioCallback(), _tracker_args(tmp_path, run_name="r1"))
    rows = SQLiteStorage.get_logs("proj", "r1")
    logged = [{k: v for k, v in row.items() if k not in ("timestamp", "step")} for row in rows]
    assert logged == [
        {**ref.rewrite_logs(TRAIN_LOGS[0]), "train/global_step": 5},
        {**ref.rewrite_logs(TRAIN_LOGS[1]), "train/global_step": 10},
        {**ref.rewrite_logs(EVAL_LOGS), "train/global_step": 10},
        {"train/epoch": 1.0, "train/global_step": 15},
    ]
    (run,) = Api().runs("proj")
    assert run.config is not None
    assert {"lr": 1, "output_dir": str(tmp_path)}.items() <= run.config.items()


_COMET_SCRIPT = """
import json, sys
from types import SimpleNamespace
from trainer_loop.reporting.comet import CometCallback
from trainer_loop.state import TrainerControl, TrainerState

fed, out = json.loads(sys.argv[1]), sys.argv[2]
args = SimpleNamespace(run_name="r1", output_dir=out, to_dict=lambda: {"lr": 1, "output_dir": out})
cb, state, control = CometCallback(), TrainerState(is_world_process_zero=True), TrainerControl()
cb.on_train_begin(args, state, control)
for logs in fed:
    state.global_step, state.epoch = logs.pop("step"), logs["epoch"]
    cb.on_log(args, state, control, logs=logs)
cb.on_train_end(args, state, control)
"""


def test_comet_offline_for_real_when_installed(tmp_path: Path) -> None:
    if importlib.util.find_spec("comet_ml") is None:
        pytest.skip("comet_ml is not installed")
    fed = _run(JSONLCallback(), _args(tmp_path / "fed"))  # the logs and steps _run feeds
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMET_")}
    # Offline, no user config, nothing that reaches out (host/git lookups, error reports);
    # the server URL points at a closed local port in case anything still tries.
    env.update(
        HOME=str(tmp_path),
        COMET_MODE="offline",
        COMET_OFFLINE_DIRECTORY=str(tmp_path / "comet"),
        COMET_URL_OVERRIDE="http://127.0.0.1:9/clientlib/",
        COMET_ERROR_TRACKING_ENABLE="false",
        COMET_DISABLE_AUTO_LOGGING="1",
        COMET_AUTO_LOG_ENV_HOST="false",
        COMET_AUTO_LOG_ENV_DETAILS="false",
        COMET_AUTO_LOG_GIT_METADATA="false",
        COMET_AUTO_LOG_GIT_PATCH="false",
    )
    # A fresh process: comet_ml reads its settings when first imported.
    subprocess.run(
        [sys.executable, "-c", _COMET_SCRIPT, json.dumps(fed), str(tmp_path)],
        env=env,
        check=True,
        timeout=300,
    )
    (archive,) = (tmp_path / "comet").glob("*.zip")
    with zipfile.ZipFile(archive) as zf:
        messages = [json.loads(line) for line in zf.read("messages.json").splitlines()]
    metrics = [m["payload"]["metric"] for m in messages if m["type"] == "metric_msg"]
    logged = [
        (m["metricName"], m["metricValue"], m["step"], m["epoch"])
        for m in metrics
        if m["metricName"].startswith(("train/", "eval/"))
    ]
    expected = [
        (key, value, logs["step"], logs["epoch"])
        for logs in fed
        for key, value in ref.rewrite_logs({k: v for k, v in logs.items() if k != "step"}).items()
    ]
    assert sorted(logged) == sorted(expected)
    params = {
        m["payload"]["param"]["paramName"]: m["payload"]["param"]["paramValue"]
        for m in messages
        if m["type"] == "parameter_msg"
    }
    assert params["args|lr"] == 1 and params["args|output_dir"] == str(tmp_path)


# ---------------------------------------------------------------- throughput
def test_throughput_metrics() -> None:
    m = throughput_metrics(
        2.0, num_samples=64, num_tokens=8192, flops_per_token=6e9, peak_flops=1e15
    )
    assert m == {
        "throughput_samples_per_second": 32.0,
        "throughput_tokens_per_second": 4096.0,
        "throughput_tflops": 24.576,
        "throughput_mfu": 0.0246,
    }
    assert throughput_metrics(1.0, num_samples=3) == {"throughput_samples_per_second": 3.0}
    assert throughput_metrics(0.0, num_samples=3) == {}
    assert training_flops_per_token(1000) == 6000.0


def test_throughput_meter_restarts_each_interval() -> None:
    now = [0.0]
    meter = ThroughputMeter(flops_per_token=1e12, clock=lambda: now[0])
    for _ in range(4):
        meter.update(8, 1024)
    now[0] = 4.0
    assert meter.metrics() == {
        "throughput_samples_per_second": 8.0,
        "throughput_tokens_per_second": 1024.0,
        "throughput_tflops": 1024.0,
    }
    meter.update(2)
    now[0] = 5.0
    assert meter.metrics() == {"throughput_samples_per_second": 2.0}
