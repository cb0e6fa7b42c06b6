"""Run every CPU benchmark and print their ratio lines (ours first) at the end.

Usage: python benchmarks/run_all.py [--quick] [--results FILE] [script.py ...]

Each benchmark is its own script (see the files beside this one) and can be
run alone. The summary (date, machine, command, ratio lines) is what
benchmarks/RESULTS.md records; `--results FILE` also writes it to FILE.
Run it with OMP_NUM_THREADS=1 (as `nox -s bench` does): the overhead
figures are about the framework around one-thread kernels.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).parent

BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments)
    "overhead.py": ([], ["--steps", "120", "--rounds", "2"]),
    "startup.py": ([], ["--rounds", "3"]),
    "eval_predict.py": (
        [],
        [
            "--rounds",
            "1",
            "--logits-samples",
            "1000",
            "--argmax-samples",
            "4000",
            "--ragged-rounds",
            "1",
            "--ragged-samples",
            "1000",
        ],
    ),
    "checkpoint_io.py": ([], ["--rounds", "1"]),
    "seq2seq_generation.py": (["--threads", "1"], ["--rounds", "1", "--threads", "1"]),
}

# A line is a result line when it compares us with someone (each script prints its own).
MARKERS = ("ours vs ", "ours/transformers", "import trainer_args:")


def is_result_line(line: str) -> bool:
    return any(marker in line for marker in MARKERS)


def cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    import torch

    return (
        f"{cpu_model()}, {cores} cores, Python {platform.python_version()}, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={threads}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and samples (smoke run)")
    parser.add_argument("--results", help="also write the summary to this file")
    parser.add_argument("only", nargs="*", help="run only these scripts")
    opts = parser.parse_args(argv)
    summary: list[str] = []
    failed: list[str] = []
    started = time.perf_counter()
    for script, (full, quick) in BENCHMARKS.items():
        if opts.only and script not in opts.only:
            continue
        path = HERE / script
        if not path.exists():
            print(f"== {script}: missing, skipped")
            continue
        print(f"== {script}", flush=True)
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(path), *(quick if opts.quick else full)],
            text=True,
            capture_output=True,
        )
        print(done.stdout, end="")
        print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            failed.append(script)
            continue
        summary += [line for line in done.stdout.splitlines() if is_result_line(line)]
    command = " ".join(
        ["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])]
    )
    header = [
        f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"machine: {machine()}",
        f"command: {command}",
        f"total: {time.perf_counter() - started:.0f} s",
    ]
    text = "\n".join([*header, "", *summary])
    print(f"\n== summary\n{text}")
    if opts.results:
        pathlib.Path(opts.results).write_text(text + "\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
