"""`trainer demo KIND`: run a bundled job, then show before/after metrics and a plot."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from trainer.demos import demo_job_file
from trainer.jobs import load_job
from trainer.plot import is_quality_metric
from trainer.run import JobResult, run_job

__all__ = ["default_output_dir", "metrics_table", "run_demo", "samples"]

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
    _one_thread_unless_asked()
    started = time.perf_counter()
    result = run_job(job, overrides, evaluate_first=True)
    seconds = time.perf_counter() - started
    if result.is_main_process:
        print(metrics_table(result, seconds))
        print(samples(kind, result.trainer.model))
        _plot(output_dir, kind)
        print(f"checkpoints, model and metrics: {output_dir}")
    return result


def samples(kind: str, model: Any) -> str:
    """What the trained model does: a text continuation, or a few reversed strings."""
    if kind == "lm":
        from trainer.demos.text import lm_sample

        return f"sample (temperature 0.6, from 'The '):\n{lm_sample(model)}\n"
    from trainer.demos.reverse import reverse_samples

    pairs = reverse_samples(model, ["abcdef", "hgfe", "cabbage", "deaf"])
    lines = [
        f"  {text:>8} -> {output:<8} {'ok' if output == text[::-1] else 'wrong'}"
        for text, output in pairs
    ]
    return "\n".join(["samples (input -> generated):", *lines, ""])


def _one_thread_unless_asked() -> None:
    """The demo models are too small to gain from intra-op threads, while threads that
    share busy cores with other processes spin and slow training down many times over;
    so the demos use one thread unless OMP_NUM_THREADS says otherwise."""
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)


def metrics_table(result: JobResult, seconds: float) -> str:
    """A plain-text table: eval metrics before/after training, then train metrics."""
    before, after = result.initial_eval or {}, result.eval or {}
    rows: list[tuple[str, str, str]] = [
        (key, _fmt(before.get(key)), _fmt(after.get(key)))
        for key in sorted(set(before) | set(after))
        if _shown(key)
    ]
    rows += [(key, "", _fmt(value)) for key, value in sorted(result.train.items()) if _shown(key)]
    rows.append(("wall time (s)", "", f"{seconds:.1f}"))
    header = ("metric", "before training", "after training")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    rule = "  ".join("-" * width for width in widths)
    lines = [_row(header, widths), rule, *(_row(row, widths) for row in rows)]
    return "\n".join(["", *lines, ""])


def _shown(key: str) -> bool:
    """The table shows quality and the step count; timings are summed up in the wall time."""
    return is_quality_metric(key) and key != "epoch"


def _row(cells: tuple[str, str, str], widths: list[int]) -> str:
    return f"{cells[0]:<{widths[0]}}  {cells[1]:>{widths[1]}}  {cells[2]:>{widths[2]}}"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _plot(output_dir: Path, kind: str) -> None:
    from trainer.plot import INSTALL_HINT, PlotError, plot_runs

    try:
        path = plot_runs([output_dir], output_dir / PLOT_NAME, title=f"trainer demo {kind}")
    except PlotError as error:
        if str(error) != INSTALL_HINT:
            raise
        print(f"no plot: {INSTALL_HINT}")
        return
    print(f"plot: {path}")
