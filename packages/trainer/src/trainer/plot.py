"""`trainer plot`: train loss, eval loss/metrics and learning rate against step, as a PNG.

Reads each run's `trainer_state.json` (`log_history`): the one in the output folder if the
run finished, else the newest checkpoint's. Several runs are overlaid, labelled by folder
name. matplotlib is an optional extra (`pip install "trainer[plot]"`); the Agg backend is
used, so no display is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

__all__ = ["PlotError", "RunHistory", "find_state_file", "load_history", "plot_runs"]

# Per-evaluation bookkeeping (timings, throughput, memory), not a quality measure: left off
# the metrics panel. eval_loss has its own place in the loss panel.
_BOOKKEEPING_SUFFIXES = ("_runtime", "_per_second", "_time", "_flos")


def is_quality_metric(key: str) -> bool:
    """True for metrics worth a curve: not timings, throughput, memory or flos."""
    return not key.endswith(_BOOKKEEPING_SUFFIXES) and "_mem_" not in key


FIGURE_SIZE = (13.5, 4.0)  # inches
DPI = 100
INSTALL_HINT = 'matplotlib is not installed; install it with: pip install "trainer[plot]"'


class PlotError(Exception):
    """A run cannot be plotted (no state file, or matplotlib missing)."""


Series = tuple[list[float], list[float]]


@attrs.define
class RunHistory:
    """A run's curves, each a (steps, values) pair."""

    name: str
    train_loss: Series = attrs.field(factory=lambda: ([], []))
    learning_rate: Series = attrs.field(factory=lambda: ([], []))
    eval_loss: Series = attrs.field(factory=lambda: ([], []))
    eval_metrics: dict[str, Series] = attrs.field(factory=dict)


def find_state_file(run_dir: Path) -> Path:
    """`run_dir/trainer_state.json`, else the newest `checkpoint-N/trainer_state.json`."""
    direct = run_dir / "trainer_state.json"
    if direct.is_file():
        return direct
    checkpoints = [
        (int(match.group(1)), path)
        for path in run_dir.glob("checkpoint-*")
        if (match := re.fullmatch(r"checkpoint-(\d+)", path.name))
        and (path / "trainer_state.json").is_file()
    ]
    if not checkpoints:
        raise PlotError(f"{run_dir}: no trainer_state.json here nor in a checkpoint-N folder")
    return max(checkpoints)[1] / "trainer_state.json"


def load_history(run_dir: str | Path) -> RunHistory:
    """The curves of one run, from its `trainer_state.json` log history."""
    run_dir = Path(run_dir)
    state_file = find_state_file(run_dir)
    try:
        log_history = json.loads(state_file.read_text(encoding="utf-8"))["log_history"]
    except (OSError, ValueError, KeyError) as error:
        raise PlotError(f"{state_file}: not a readable trainer_state.json ({error})") from None
    history = RunHistory(name=run_dir.resolve().name)
    for entry in log_history:
        step = entry.get("step")
        if step is None:
            continue
        _add(history.train_loss, step, entry.get("loss"))
        _add(history.learning_rate, step, entry.get("learning_rate"))
        _add(history.eval_loss, step, entry.get("eval_loss"))
        for key, value in entry.items():
            if key.startswith("eval_") and key != "eval_loss" and is_quality_metric(key):
                _add(history.eval_metrics.setdefault(key, ([], [])), step, value)
    return history


def _add(series: Series, step: Any, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        series[0].append(float(step))
        series[1].append(float(value))


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError(INSTALL_HINT) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runs(run_dirs: Sequence[str | Path], output: str | Path, title: str | None = None) -> Path:
    """Write one PNG overlaying every run: loss, learning rate, eval metrics panels."""
    histories = [load_history(run_dir) for run_dir in run_dirs]
    if not histories:
        raise PlotError("no run folder given")
    plt = _pyplot()
    with_metrics = any(history.eval_metrics for history in histories)
    # A third panel only when some run has eval metrics besides the loss.
    figure, axes = plt.subplots(1, 3 if with_metrics else 2, figsize=FIGURE_SIZE, dpi=DPI)
    loss_ax, lr_ax = axes[0], axes[1]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, history in enumerate(histories):
        color = colors[index % len(colors)]
        label = history.name if len(histories) > 1 else ""
        _draw(loss_ax, history.train_loss, color, "-", _join(label, "train"))
        _draw(loss_ax, history.eval_loss, color, "--", _join(label, "eval"), marker="o")
        _draw(lr_ax, history.learning_rate, color, "-", label or "learning rate")
        styles = ["-", "--", ":", "-."]
        for number, (key, series) in enumerate(sorted(history.eval_metrics.items())):
            _draw(axes[-1], series, color, styles[number % 4], _join(label, key), marker="o")
    _decorate(loss_ax, "loss")
    _decorate(lr_ax, "learning rate")
    if with_metrics:
        _decorate(axes[2], "eval metrics")
    figure.suptitle(title or ", ".join(history.name for history in histories))
    figure.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=DPI)
    plt.close(figure)
    return output


def _join(run: str, what: str) -> str:
    return f"{run}: {what}" if run else what


def _draw(axes: Any, series: Series, color: str, style: str, label: str, **kw: Any) -> None:
    steps, values = series
    if steps:
        markersize = 3 if len(steps) > 1 else 6
        axes.plot(steps, values, style, color=color, label=label, markersize=markersize, **kw)


def _decorate(axes: Any, title: str) -> None:
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.grid(True, alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
