"""The shipped job files run with `trainer train`: the example and the demos' own jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.demos import demo_job_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_classifier_example_learns(tmp_path: Path) -> None:
    job = EXAMPLES / "classifier" / "job.yaml"
    assert main(["train", str(job), "--max_steps", "300", "--output_dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "all_results.json").read_text())
    assert results["eval_accuracy"] > 0.8  # two spirals: chance is 0.5
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"] is not None  # load_best_model_at_end was honoured


@pytest.mark.parametrize("kind", ["lm", "seq2seq"])
def test_demo_job_files_run_with_trainer_train(tmp_path: Path, kind: str) -> None:
    flags = ["--max_steps", "2", "--eval_strategy", "no", "--output_dir", str(tmp_path)]
    assert main(["train", str(demo_job_file(kind)), *flags]) == 0
    assert json.loads((tmp_path / "trainer_state.json").read_text())["global_step"] == 2
