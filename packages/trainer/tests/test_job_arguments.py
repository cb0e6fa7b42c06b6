"""A job's `args:` plus command-line overrides -> TrainingArguments."""

from __future__ import annotations

import pytest

from trainer.job_arguments import build_arguments
from trainer.jobs import JobError, parse_job
from trainer_args import Seq2SeqTrainingArguments, TrainingArguments

JOB = """\
model: m:f
data: m:g
args:
  output_dir: from-job
  learning_rate: 3e-4
  max_steps: 5
  eval_strategy: steps
"""


def test_job_args_become_training_arguments() -> None:
    args = build_arguments(parse_job(JOB))
    assert isinstance(args, TrainingArguments)
    assert (args.output_dir, args.max_steps) == ("from-job", 5)
    assert args.learning_rate == pytest.approx(3e-4)  # YAML reads 3e-4 as a string
    assert args.eval_strategy == "steps"


def test_command_line_overrides_win_in_either_spelling() -> None:
    args = build_arguments(parse_job(JOB), ["--max-steps", "7", "--output_dir=cli", "--seed", "3"])
    assert (args.max_steps, args.output_dir, args.seed) == (7, "cli", 3)
    assert args.learning_rate == pytest.approx(3e-4)  # untouched job values stay


def test_seq2seq_jobs_get_seq2seq_arguments() -> None:
    job = parse_job(
        "model: m:f\ndata: m:g\ntrainer: seq2seq\nargs:\n  predict_with_generate: true\n"
    )
    args = build_arguments(job)
    assert isinstance(args, Seq2SeqTrainingArguments) and args.predict_with_generate is True


@pytest.mark.parametrize(
    ("args_yaml", "message"),
    [
        (
            "  learnig_rate: 1.0\n",
            r"job.yaml:4: 'learnig_rate' is not a TrainingArguments field; did you mean 'learning_rate'",
        ),
        ("  output_dir: o\n  max_steps: many\n", r"job.yaml:5: max_steps='many'"),
        ("  save_strategy: sometimes\n", r"job.yaml:4: save_strategy='sometimes'"),
    ],
)
def test_bad_job_args_name_the_line(args_yaml: str, message: str) -> None:
    job = parse_job(f"model: m:f\ndata: m:g\nargs:\n{args_yaml}", source="job.yaml")
    with pytest.raises(JobError, match=message):
        build_arguments(job)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max_stesp", "3"], r"unknown option '--max_stesp'; did you mean '--max_steps'"),
        (["--max_steps", "abc"], r"--max_steps.*invalid int value: 'abc'"),
        (["--eval_strategy", "sometimes"], r"invalid choice: 'sometimes'"),
    ],
)
def test_bad_flags_are_job_errors(flags: list[str], message: str) -> None:
    with pytest.raises(JobError, match=message):
        build_arguments(parse_job(JOB), flags)
