"""`trainer demo KIND`: run a bundled job, then show before/after metrics and a plot."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from trainer.demos import demo_job_file
from trainer.jobs import load_job
from trainer.run import JobResult, run_job

__all__ = ["default_output_dir", "metrics_table", "run_demo"]

# What the table shows: evaluation quality before and after, then the training summary.
_SKIP = ("_runtime", "_per_second", "total_flos", "epoch")
PLOT_NAME = "training_curves.png"


def default_output_dir(kind: str) -> Path:
    """A new folder under the current directory: `trainer-demo-<kind>-<timestamp>`."""
    return Path.cwd() / f"trainer-demo-{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def run_demo(kind: str, output_dir: Path | None = None, max_steps: int | None = None) -> JobResult:
    """Train the bundled `kind` job into `output_dir`; print the metrics table and plot."""
    output_dir = output_dir or default_output_dir(kind)
    overrides = ["--output_dir", str(output_dir)]
    if max_steps is not None:
        overrides += ["--max_steps", str(max_steps)]
    job = load_job(demo_job_file(kind))
    started = time.perf_counter()
    result = run_job(job, overrides, evaluate_first=True)
    seconds = time.perf_counter() - started
    if result.is_main_process:
        print(metrics_table(result, seconds))
        _plot(output_dir)
        print(f"checkpoints, model and metrics: {output_dir}")
    return result


def metrics_table(result: JobResult, seconds: float) -> str:
    """A plain-text table: eval metrics before/after training, then train metrics."""
    before, after = result.initial_eval or {}, result.eval or {}
    rows: list[tuple[str, str, str]] = [
        (key, _fmt(before.get(key)), _fmt(after.get(key)))
        for key in sorted(set(before) | set(after))
        if not key.endswith(_SKIP)
    ]
    rows += [
        (key, "", _fmt(value))
        for key, value in sorted(result.train.items())
        if not key.endswith(_SKIP)
    ]
    rows.append(("wall time (s)", "", f"{seconds:.1f}"))
    header = ("metric", "before training", "after training")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    rule = "  ".join("-" * width for width in widths)
    lines = [_row(header, widths), rule, *(_row(row, widths) for row in rows)]
    return "\n".join(["", *lines, ""])


def _row(cells: tuple[str, str, str], widths: list[int]) -> str:
    return f"{cells[0]:<{widths[0]}}  {cells[1]:>{widths[1]}}  {cells[2]:>{widths[2]}}"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _plot(output_dir: Path) -> None:
    from trainer.plot import INSTALL_HINT, PlotError, plot_runs

    try:
        path = plot_runs([output_dir], output_dir / PLOT_NAME)
    except PlotError as error:
        if str(error) != INSTALL_HINT:
            raise
        print(f"no plot: {INSTALL_HINT}")
        return
    print(f"plot: {path}")
