"""The GPU session (`benchmarks/gpu_session.py`) without a GPU: its CPU dry run goes through
every check at tiny sizes and writes its summary; speeds are never asserted.

What makes the GPU numbers mean something is tested by breaking it: a contender of
`benchmarks/gpu.py` that trains differently must end that run with an error, and the
session must call such a run a failure.
"""

from __future__ import annotations

import functools
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from support.benchmarks import load_benchmark

pytest.importorskip("transformers")
ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, str]:
    """One dry run for the module's tests: (its --out folder, its stdout)."""
    out = tmp_path_factory.mktemp("gpu-session")
    done = subprocess.run(
        [sys.executable, str(BENCH / "gpu_session.py"), "--cpu-dry-run", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out, done.stdout


def test_dry_run_writes_its_summary(dry_run: tuple[pathlib.Path, str]) -> None:
    out, stdout = dry_run
    for name in ("summary.txt", "summary.json", "session.log", "gpu_bench.json"):
        assert (out / name).is_file(), name
    text = (out / "summary.txt").read_text()
    assert stdout.endswith(text)  # the device call's output tail is the summary
    assert "no check failed" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "cpu-dry-run"
    checks = summary["checks"]
    assert list(checks) == ["environment", "pytest_gpu", "precision", "sync", "mfu", "gpu_bench"]
    assert checks["environment"]["status"] == "pass"
    assert checks["environment"]["trainer_imports"] is True


def test_dry_run_compares_the_contenders(dry_run: tuple[pathlib.Path, str]) -> None:
    """raw, ours and transformers, eager and compiled: same initial weights and losses."""
    bench = json.loads((dry_run[0] / "summary.json").read_text())["checks"]["gpu_bench"]
    assert bench["status"] == "pass", bench  # a loss mismatch makes this fail
    assert bench["check"]["problems"] == []
    assert set(bench["check"]["max_relative_loss_difference"]) == {
        f"{mode}/{key}" for mode in ("eager", "compile") for key in ("raw", "ours", "transformers")
    }
    for mode in ("eager", "compile"):
        assert set(bench["ratios"][mode]) == {"ours/raw", "ours/transformers"}
        assert all(value > 0 for value in bench["ratios"][mode].values())


def test_dry_run_skips_what_needs_cuda(dry_run: tuple[pathlib.Path, str]) -> None:
    checks = json.loads((dry_run[0] / "summary.json").read_text())["checks"]
    tests = checks["pytest_gpu"]
    assert tests["status"] == "skipped: no CUDA"
    assert tests["counts"]["skipped"] == len(tests["tests"]) > 0
    precision = {t["test"].split("::")[0] for t in checks["precision"]["tests"]}
    assert precision == {"test_bf16_trainer", "test_fp16_overflow"}
    assert checks["precision"]["status"] == "skipped: no CUDA"
    # The sync check's switching ran: on for every step after warm-up, off for every log.
    sync = checks["sync"]
    assert sync["status"].startswith("skipped: no CUDA")
    assert sync["steps_checked"] == sync["steps"] - sync["warmup_steps"]
    assert sync["logs"] >= sync["steps"] // sync["logging_steps"]
    assert sync["logs_with_mode_on"] == 0
    mfu = checks["mfu"]
    assert mfu["status"].startswith("skipped: no CUDA")
    # GPT-2's own count of non-embedding parameters is the one counted by hand.
    assert mfu["non_embedding_parameters"] == mfu["library_flops_parameters"] > 0
    intervals = mfu["intervals"]
    assert len(intervals) == mfu["steps"] // mfu["logging_steps"] - 1
    assert all(row["logged_tokens_per_second"] > 0 for row in intervals)


def test_a_contender_that_trains_differently_fails_the_benchmark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A raw loop that does not learn (learning rate 0) starts equal and then drifts apart."""
    gpu = load_benchmark("gpu")
    monkeypatch.setattr(gpu, "run_raw", functools.partial(gpu.run_raw, lr=0.0))
    argv = ["--device", "cpu", "--tiny", "--steps", "6", "--warm", "4", "--rounds", "1"]
    with pytest.raises(gpu.Mismatch) as raised:
        gpu.main([*argv, "--no-compile"])
    assert "loss of step" in str(raised.value)
    assert "ours eager round 0" in str(raised.value)


def test_check_results_sees_other_initial_weights() -> None:
    gpu = load_benchmark("gpu")
    same = gpu.Result(1.0, [5.0, 4.0], 12.5, 1.0)
    other = same._replace(initial_checksum=12.25)
    results = {"eager": {"raw": [same], "ours": [other], "transformers": [same]}}
    problems = gpu.check_results(results)["problems"]
    assert len(problems) == 1 and "initial weights differ" in problems[0]


def test_the_session_calls_a_mismatch_a_failure(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gpu.py's mismatch (exit status 1, status "mismatch" in its JSON) is a failed check."""
    session_module = load_benchmark("gpu_session")
    session = session_module.Session(tmp_path, dry=True, budget_s=600.0)

    def fake_call(name: str, argv: list[str], timeout: float) -> tuple[int, str]:
        path = pathlib.Path(argv[argv.index("--json") + 1])
        path.write_text(json.dumps({"status": "mismatch", "check": {"problems": ["differ"]}}))
        return 1, "[gpu] results differ"

    monkeypatch.setattr(session, "call", fake_call)
    session.check("gpu_bench", lambda: session_module.check_gpu_bench(session))
    result: dict[str, Any] = session.summary["checks"]["gpu_bench"]
    assert result["status"] == "fail"
    assert "FAILED: gpu_bench" in (tmp_path / "summary.txt").read_text()


def test_the_device_command_is_written_down() -> None:
    """The command in the docstring and in RESULTS.md is the one the session knows."""
    session_module = load_benchmark("gpu_session")
    command = session_module.DEVICE_COMMAND
    assert len(command) < 2000  # the device tool's limit
    assert "--find-links .whl cattrs" in command and "--out $OUT" in command
    assert f"command:   {command}\n" in session_module.__doc__
    assert session_module.DEVICE_CARRY == [".whl"]
    results = (BENCH / "RESULTS.md").read_text()
    assert command in results and '[".whl"]' in results
