"""Smoke test of the benchmark harness: each CPU benchmark runs at a tiny size and prints its
comparison lines, with the same results as the raw loop. Speeds are never asserted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import pathlib
import sys
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("transformers")
BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"

pytestmark = pytest.mark.slow


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(module: ModuleType, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`module.main()` with `argv` as its command line; returns what it printed."""
    monkeypatch.setattr(sys, "argv", [module.__file__, *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = module.main()
    assert status in (0, None)
    return out.getvalue()


def ratio_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if load("run_all").is_result_line(line)]


def test_overhead_same_weights_as_raw_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    overhead = load("overhead")
    threads = overhead.torch.get_num_threads()
    try:
        text = run_main(overhead, ["--steps", "22", "--rounds", "1"], monkeypatch)
    finally:
        overhead.torch.set_num_threads(threads)
    for case in ("mlp", "gpt2-2layer"):
        assert (
            f"[overhead/{case}] final weights vs raw: ours identical, transformers identical"
            in text
        )
        assert any(line.startswith(f"overhead {case}: ours vs raw: ") for line in ratio_lines(text))
        assert any(
            line.startswith(f"overhead {case}: ours vs transformers: ")
            for line in ratio_lines(text)
        )


@pytest.mark.parametrize("contender", ["raw", "trainer", "transformers"])
def test_startup_first_step_scripts_run(
    contender: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process (the real benchmark spawns fresh ones): each script reaches its first step.
    startup = load("startup")
    code = startup.RAW if contender == "raw" else startup.FRAMEWORK.replace("MODULE", contender)
    monkeypatch.setattr(sys, "argv", ["-c", str(tmp_path)])
    out = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<startup {contender}>", "exec"), namespace)
    assert float(out.getvalue().split()[0]) > 0
    if contender != "raw":
        from accelerate.state import AcceleratorState, GradientState, PartialState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()


def test_eval_predict_identical_predictions() -> None:
    # One child process per run, as the benchmark does (its peak-memory reading needs that).
    eval_predict = load("eval_predict")
    for argmax in (False, True):
        raw, ours = (eval_predict.run(name, 24, argmax) for name in ("raw", "ours"))
        assert raw["shape"] == ours["shape"] == ([24, 64] if argmax else [24, 64, 128])
        assert raw["digest"] == ours["digest"]
        assert float(ours["extra_mb"]) >= 0


def test_checkpoint_io_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    checkpoint_io = load("checkpoint_io")
    text = run_main(
        checkpoint_io, ["--rounds", "1", "--width", "16", "--dir", str(tmp_path)], monkeypatch
    )
    assert any("ours vs transformers: save" in line for line in ratio_lines(text))


def test_seq2seq_generation_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seq2seq = load("seq2seq_generation")
    text = run_main(seq2seq, ["--rounds", "1", "--examples", "8"], monkeypatch)
    assert len(ratio_lines(text)) == 2


def test_gpu_script_skips_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = load("gpu")
    if gpu.torch.cuda.is_available():
        pytest.skip("a GPU is present: gpu.py is a benchmark to run by hand there")
    text = run_main(gpu, [], monkeypatch)
    assert "no CUDA device, skipped" in text
