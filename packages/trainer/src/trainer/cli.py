"""The `trainer` command: `train`, `demo`, `env`, `plot`.

Bad input (a job file mistake, a missing factory, an unknown flag) prints one clear
message on stderr and exits with code 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trainer._version import __version__

__all__ = ["build_parser", "main"]

USAGE_ERROR = 2
RUNTIME_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainer",
        description="Train PyTorch models with the transformers Trainer API.",
    )
    parser.add_argument("--version", action="version", version=f"trainer {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="run a job file",
        usage="trainer train [-h] JOB.yaml [--field value ...]",
        description="Train, evaluate and save the model a YAML job file describes.",
        epilog="Any TrainingArguments field overrides the job's `args:`, e.g. "
        "--max_steps 100 --output_dir out --resume_from_checkpoint True.",
    )
    train.add_argument("job", type=Path, metavar="JOB.yaml", help="the job file (YAML)")

    demo = commands.add_parser(
        "demo",
        help="run a bundled demo job",
        description="Train a bundled demo job: lm (a tiny character-level GPT on English "
        "prose) or seq2seq (a tiny encoder-decoder learning to reverse strings).",
    )
    demo.add_argument(
        "kind", nargs="?", default="lm", choices=["lm", "seq2seq"], help="which demo (default: lm)"
    )
    demo.add_argument(
        "--output-dir",
        "--output_dir",
        type=Path,
        default=None,
        help="where checkpoints go (default: ./trainer-demo-KIND-TIMESTAMP)",
    )
    demo.add_argument(
        "--max-steps",
        "--max_steps",
        type=int,
        default=None,
        help="train for this many steps instead of the demo's own",
    )

    commands.add_parser(
        "env",
        help="print versions and devices",
        description="Versions and devices, for bug reports.",
    )

    plot = commands.add_parser(
        "plot",
        help="plot runs' loss, learning rate and eval metrics",
        description="A PNG of loss, learning rate and eval metrics against step; "
        "several runs are overlaid.",
    )
    plot.add_argument(
        "runs", nargs="+", type=Path, metavar="OUTPUT_DIR", help="a run's output_dir (or several)"
    )
    plot.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the PNG to write (default: training_curves.png in the first run)",
    )
    plot.add_argument("--title", default=None, help="the figure title (default: the run names)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options, extra = parser.parse_known_args(argv)
    if extra and options.command != "train":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return _dispatch(options, extra)
    except _Failure as failure:
        print(f"trainer {options.command}: error: {failure.message}", file=sys.stderr)
        return failure.code


class _Failure(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def _dispatch(options: argparse.Namespace, extra: list[str]) -> int:
    if options.command == "train":
        return _train(options.job, extra)
    if options.command == "demo":
        return _demo(options.kind, options.output_dir, options.max_steps)
    if options.command == "env":
        from trainer.env import environment, format_environment

        print(format_environment(environment()))
        return 0
    return _plot(options.runs, options.output, options.title)


def _train(job_file: Path, overrides: list[str]) -> int:
    from trainer.jobs import JobError, load_job
    from trainer.run import run_job

    try:
        result = run_job(load_job(job_file), overrides)
    except JobError as error:
        raise _Failure(str(error), USAGE_ERROR) from None
    if result.is_main_process:
        print(f"model, metrics and trainer state saved in {result.output_dir}")
    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
    return 0


def _demo(kind: str, output_dir: Path | None, max_steps: int | None) -> int:
    from trainer.demos.runner import run_demo
    from trainer.jobs import JobError

    try:
        run_demo(kind, output_dir, max_steps)
    except JobError as error:
        raise _Failure(str(error), USAGE_ERROR) from None
    return 0


def _plot(runs: list[Path], output: Path | None, title: str | None) -> int:
    from trainer.plot import INSTALL_HINT, PlotError, plot_runs

    try:
        path = plot_runs(runs, output or runs[0] / "training_curves.png", title)
    except PlotError as error:
        code = RUNTIME_ERROR if str(error) == INSTALL_HINT else USAGE_ERROR
        raise _Failure(str(error), code) from None
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
