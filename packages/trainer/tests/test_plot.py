"""`trainer plot` on hand-written trainer_state.json files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.plot import DPI, FIGURE_SIZE, PlotError, find_state_file, load_history, plot_runs

matplotlib_image = pytest.importorskip("matplotlib.image")


def _log_history(scale: float) -> list[dict[str, float]]:
    history: list[dict[str, float]] = []
    for step in range(10, 101, 10):
        history.append(
            {
                "epoch": step / 100,
                "grad_norm": 1.0,
                "learning_rate": 1e-3 * (1 - step / 100),
                "loss": scale * 4.0 / step**0.5,
                "step": step,
            }
        )
        if step % 50 == 0:
            history.append(
                {
                    "epoch": step / 100,
                    "eval_loss": scale * 5.0 / step**0.5,
                    "eval_accuracy": min(1.0, step / 120),
                    "eval_runtime": 0.1,
                    "eval_samples_per_second": 10.0,
                    "eval_steps_per_second": 1.0,
                    "step": step,
                }
            )
    history.append(
        {"epoch": 1.0, "step": 100, "train_loss": 1.0, "train_runtime": 3.0, "total_flos": 0.0}
    )
    return history


def _run(folder: Path, scale: float = 1.0, in_checkpoint: int | None = None) -> Path:
    target = folder / f"checkpoint-{in_checkpoint}" if in_checkpoint is not None else folder
    target.mkdir(parents=True)
    state = {"global_step": 100, "log_history": _log_history(scale)}
    (target / "trainer_state.json").write_text(json.dumps(state))
    return folder


def test_history_splits_train_eval_and_learning_rate(tmp_path: Path) -> None:
    history = load_history(_run(tmp_path / "run"))
    assert history.name == "run"
    assert history.train_loss[0] == [float(s) for s in range(10, 101, 10)]
    assert len(history.learning_rate[1]) == 10
    assert history.eval_loss[0] == [50.0, 100.0]
    assert set(history.eval_metrics) == {"eval_accuracy"}  # runtime/throughput are not metrics


def test_newest_checkpoint_state_when_the_run_has_none(tmp_path: Path) -> None:
    run = _run(tmp_path / "run", in_checkpoint=9)
    _run(run, in_checkpoint=10)
    (run / "checkpoint-11").mkdir()  # incomplete: no state file, ignored
    assert find_state_file(run) == run / "checkpoint-10" / "trainer_state.json"
    (run / "trainer_state.json").write_text(
        (run / "checkpoint-9" / "trainer_state.json").read_text()
    )
    assert find_state_file(run) == run / "trainer_state.json"


def test_no_state_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PlotError, match=r"no trainer_state\.json"):
        load_history(tmp_path)


def _assert_png(path: Path) -> None:
    pixels = matplotlib_image.imread(path)
    height, width = pixels.shape[:2]
    assert (width, height) == (int(FIGURE_SIZE[0] * DPI), int(FIGURE_SIZE[1] * DPI))
    assert pixels[..., :3].var() > 1e-3  # not a blank canvas


def test_plot_one_run(tmp_path: Path) -> None:
    out = plot_runs([_run(tmp_path / "run")], tmp_path / "plots" / "one.png")
    _assert_png(out)


def test_plot_command_overlays_two_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = _run(tmp_path / "a"), _run(tmp_path / "b", scale=0.5, in_checkpoint=100)
    out = tmp_path / "both.png"
    assert main(["plot", str(first), str(second), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    _assert_png(out)
    single = tmp_path / "single.png"
    assert main(["plot", str(first), "-o", str(single)]) == 0
    # the overlay draws a second set of curves and a legend: the images differ
    assert (matplotlib_image.imread(out) != matplotlib_image.imread(single)).any()


def test_plot_default_output_is_inside_the_first_run(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    assert main(["plot", str(run)]) == 0
    assert (run / "training_curves.png").is_file()


def test_plot_command_bad_folder_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "no trainer_state.json" in capsys.readouterr().err


def test_missing_matplotlib_names_the_extra(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    # A meta-path blocker makes `import matplotlib` fail in a fresh interpreter.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib': raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from trainer.cli import main\n"
        f"sys.exit(main(['plot', {str(run)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert 'pip install "trainer[plot]"' in result.stderr
