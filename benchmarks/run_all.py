"""Run every CPU benchmark and print their ratio lines (ours first) at the end.

Usage: python benchmarks/run_all.py [--quick]

Each benchmark is its own script (see the files beside this one) and can be
run alone. The summary lines are what benchmarks/RESULTS.md records.
"""

from __future__ import annotations

import argparse
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
        ["--rounds", "1", "--logits-samples", "1000", "--argmax-samples", "4000"],
    ),
    "checkpoint_io.py": ([], ["--rounds", "1"]),
    "seq2seq_generation.py": ([], ["--rounds", "1"]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and samples (smoke run)")
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
        done = subprocess.run(
            [sys.executable, str(path), *(quick if opts.quick else full)],
            text=True,
            capture_output=True,
        )
        print(done.stdout, end="")
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            failed.append(script)
            continue
        summary += [
            line
            for line in done.stdout.splitlines()
            if " ours vs " in line or line.startswith("import trainer_args")
        ]
    print(
        f"\n== summary ({platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{time.perf_counter() - started:.0f} s)"
    )
    print("\n".join(summary))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
