"""Plain-file loggers: `JSONLCallback` (one JSON object per log) and `CSVCallback` (a table).

Both write `<output_dir>/log_history.<ext>` on the main process only, one record per `on_log`
with the global `step`, the `epoch` and the logged values (the same content as
`trainer_state.json`'s `log_history`). Files are opened per write, so they are complete
after every log even if the process dies.

Run boundaries: a fresh training run (global step 0 at `on_train_begin`) starts a new file;
a resumed run keeps the records up to the checkpoint's step and drops the later ones (they
belong to the interrupted run); `evaluate()`/`predict()` outside training only append.
"""

from __future__ import annotations

import abc
import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["CSVCallback", "JSONLCallback"]


def _record(state: TrainerState, logs: dict[str, Any]) -> dict[str, Any]:
    # `step` and `epoch` first for readability; an `epoch` in the logs (the Trainer's) wins.
    return {"step": state.global_step, "epoch": state.epoch, **logs}


def _json_value(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return item()
    return str(value)


class _FileLogger(TrainerCallback, abc.ABC):
    """Shared run-boundary logic; subclasses say how to read, write and append records.

    An abstract base: a subclass that leaves out `read`, `rewrite` or `append` fails when it
    is instantiated, not at the first log of a run.
    """

    extension = ""

    def __init__(
        self, output_dir: str | os.PathLike[str] | None = None, filename: str | None = None
    ):
        self.output_dir = output_dir
        self.filename = filename or f"log_history.{self.extension}"

    def path(self, args: Any) -> Path:
        return (
            Path(self.output_dir if self.output_dir is not None else args.output_dir)
            / self.filename
        )

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        path = self.path(args)
        if state.global_step == 0:
            path.unlink(missing_ok=True)
        elif path.exists():
            kept = [r for r in self.read(path) if _step(r) <= state.global_step]
            self.rewrite(path, kept)

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or logs is None:
            return
        path = self.path(args)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.append(path, _record(state, logs))

    @abc.abstractmethod
    def read(self, path: Path) -> list[dict[str, Any]]:
        """All records in the file at `path`, oldest first."""

    @abc.abstractmethod
    def rewrite(self, path: Path, records: list[dict[str, Any]]) -> None:
        """Replace the file at `path` with exactly `records`."""

    @abc.abstractmethod
    def append(self, path: Path, record: dict[str, Any]) -> None:
        """Add one record at the end of the file at `path` (creating it if missing)."""


def _step(record: dict[str, Any]) -> float:
    try:
        return float(record.get("step", 0))
    except (TypeError, ValueError):
        return 0.0


class JSONLCallback(_FileLogger):
    """Writes `log_history.jsonl`: one JSON object per log event (`step`, `epoch`, the logs).

    Non-finite floats are written as `NaN`/`Infinity` (Python's json reads them back).
    """

    extension = "jsonl"

    def read(self, path: Path) -> list[dict[str, Any]]:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def rewrite(self, path: Path, records: list[dict[str, Any]]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(_json_line(r) for r in records)

    def append(self, path: Path, record: dict[str, Any]) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(_json_line(record))


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=_json_value) + "\n"


class CSVCallback(_FileLogger):
    """Writes `log_history.csv`: a wide table, one row per log event, one column per key.

    Columns are `step`, `epoch`, then every key in the order it first appeared. When a log
    brings a key the header lacks (e.g. the first evaluation), the file is rewritten once
    with the wider header and the earlier rows keep empty cells there. Logs are rare, and the
    set of keys settles after the first train log and evaluation, so rewrites are few.
    Floats are written with `repr` (exact round trip); lists/dicts as JSON.
    """

    extension = "csv"

    def read(self, path: Path) -> list[dict[str, Any]]:
        with open(path, newline="", encoding="utf-8") as f:
            return [dict(row) for row in csv.DictReader(f)]

    def _header(self, path: Path) -> list[str]:
        if not path.exists():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])

    def rewrite(
        self, path: Path, records: list[dict[str, Any]], header: list[str] | None = None
    ) -> None:
        header = header if header is not None else _columns([], records)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(_csv_row(r) for r in records)

    def append(self, path: Path, record: dict[str, Any]) -> None:
        header = self._header(path)
        wider = _columns(header, [record])
        if wider != header:
            self.rewrite(path, [*(self.read(path) if header else []), record], wider)
            return
        with open(path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=header, restval="").writerow(_csv_row(record))


def _columns(header: list[str], records: list[dict[str, Any]]) -> list[str]:
    columns = list(header)
    for record in records:
        columns += [key for key in record if key not in columns]
    return columns


def _csv_row(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _csv_value(value) for key, value in record.items()}


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=_json_value)
    return value
