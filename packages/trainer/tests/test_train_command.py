"""`trainer train JOB.yaml`: end to end on a tiny regression job written into tmp_path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer.cli import main

FACTORIES = """
import torch
from torch import nn

from trainer.jobs import Datasets


class Regressor(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, 1)

    def forward(self, x, labels=None):
        logits = self.linear(x).squeeze(-1)
        loss = None if labels is None else nn.functional.mse_loss(logits, labels)
        return {"loss": loss, "logits": logits}


def make_model(width=4):
    return Regressor(width)


def _examples(count, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 4, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    return [{"x": x[i], "labels": y[i]} for i in range(count)]


def make_data():
    return Datasets(train=_examples(64, 0), eval=_examples(16, 1))


def make_data_as_dict():
    return {"train": _examples(64, 0)}


def make_nothing():
    return 42


def make_metrics():
    def compute_metrics(prediction):
        error = (prediction.predictions - prediction.label_ids) ** 2
        return {"mse": float(error.mean())}
    return compute_metrics
"""

JOB = """\
model: {factory: "job_factories:make_model", kwargs: {width: 4}}
data: job_factories:make_data
metrics: job_factories:make_metrics
args:
  output_dir: OUT
  max_steps: 4
  per_device_train_batch_size: 8
  learning_rate: 0.05
  logging_steps: 1
  save_steps: 2
  eval_strategy: steps
  eval_steps: 2
  report_to: none
  disable_tqdm: true
"""


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "job_factories.py").write_text(FACTORIES)
    (tmp_path / "job.yaml").write_text(JOB.replace("OUT", str(tmp_path / "out")))
    return tmp_path


def _state(folder: Path) -> dict:
    return json.loads((folder / "trainer_state.json").read_text())


def test_train_evaluates_and_saves_with_a_cli_override(job_dir: Path) -> None:
    out = job_dir / "out"
    assert main(["train", str(job_dir / "job.yaml"), "--max_steps", "6"]) == 0
    state = _state(out)
    assert state["global_step"] == 6  # the override beat the job's max_steps: 4
    assert (out / "model.safetensors").is_file()
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
    ]
    results = json.loads((out / "all_results.json").read_text())
    assert {"train_loss", "eval_loss", "eval_mse"} <= set(results)
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert losses[-1] < losses[0]


def test_resume_continues_from_the_newest_checkpoint(job_dir: Path) -> None:
    job, out = str(job_dir / "job.yaml"), job_dir / "out"
    assert main(["train", job, "--max_steps", "6"]) == 0
    straight = load_file(out / "model.safetensors")
    first = _state(out / "checkpoint-4")
    # Pretend the run stopped after checkpoint-4, then resume it.
    shutil.rmtree(out / "checkpoint-6")
    (out / "model.safetensors").unlink()
    assert main(["train", job, "--max_steps", "6", "--resume_from_checkpoint", "True"]) == 0
    resumed = _state(out)
    assert resumed["global_step"] == 6
    # steps 1-4 come from the checkpoint, not from training them again
    assert resumed["log_history"][: len(first["log_history"])] == first["log_history"]
    # and the result is that of the uninterrupted run, bit for bit
    again = load_file(out / "model.safetensors")
    assert again.keys() == straight.keys()
    assert all(torch.equal(again[key], straight[key]) for key in again)


def test_python_dash_m_train(job_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainer",
            "train",
            "job.yaml",
            "--max-steps",
            "2",
            "--save_steps",
            "1",
        ],
        cwd=job_dir,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "eval_loss" in result.stdout  # the metrics report
    assert f"saved in {job_dir / 'out'}" in result.stdout
    assert _state(job_dir / "out")["global_step"] == 2


def _bad(job_dir: Path, text: str, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    (job_dir / "bad.yaml").write_text(textwrap.dedent(text))
    assert main(["train", str(job_dir / "bad.yaml"), *flags]) == 2
    return capsys.readouterr().err


def test_misspelt_argument_names_line_and_fix(
    job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _bad(
        job_dir,
        "model: job_factories:make_model\ndata: job_factories:make_data\nargs:\n  max_step: 3\n",
        capsys,
    )
    assert "bad.yaml:4" in err and "'max_step'" in err and "did you mean 'max_steps'" in err


def test_misspelt_flag(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(job_dir, JOB, capsys, "--lerning_rate", "1")
    assert "did you mean '--learning_rate'" in err


def test_missing_factory_module(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(
        job_dir, "model: job_factories:make_model\ndata: nowhere_factories:make_data\n", capsys
    )
    assert "bad.yaml:2" in err and "cannot import module 'nowhere_factories'" in err


def test_missing_factory_function(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(job_dir, "model: job_factories:make_modle\ndata: job_factories:make_data\n", capsys)
    assert "bad.yaml:1" in err and "did you mean 'make_model'" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model: job_factories:make_nothing\ndata: job_factories:make_data\n",
            "returned int; expected a torch.nn.Module",
        ),
        (
            "model: job_factories:make_model\ndata: job_factories:make_nothing\n",
            "returned int; expected trainer.jobs.Datasets",
        ),
        (
            "model: job_factories:make_model\ndata: job_factories:make_data\nmetrics: job_factories:make_nothing\n",
            "returned int; expected compute_metrics",
        ),
    ],
)
def test_factory_returning_the_wrong_type(
    job_dir: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    assert expected in _bad(job_dir, text, capsys)


def test_data_as_a_mapping_without_eval(job_dir: Path) -> None:
    out = job_dir / "dict-out"
    (job_dir / "dict.yaml").write_text(
        "model: job_factories:make_model\ndata: job_factories:make_data_as_dict\n"
        f"args: {{output_dir: {out}, max_steps: 2, report_to: none, disable_tqdm: true}}\n"
    )
    assert main(["train", str(job_dir / "dict.yaml")]) == 0
    assert not (out / "eval_results.json").exists()
    assert _state(out)["global_step"] == 2


def test_resume_without_a_checkpoint_is_a_usage_error(
    job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = str(job_dir / "job.yaml")
    assert main(["train", job, "--resume_from_checkpoint", "True"]) == 2
    assert "no complete checkpoint in" in capsys.readouterr().err
    assert main(["train", job, "--resume_from_checkpoint", str(job_dir / "nope")]) == 2
    assert "no checkpoint folder" in capsys.readouterr().err
