"""Smoke test of the benchmark harness: each CPU benchmark runs at a tiny size and prints its
comparison lines, with the same results as the raw loop. Speeds are never asserted.

The checks that make a benchmark's numbers mean something are tested by breaking them on
purpose: a result that differs between contenders in any round, a checkpoint load that
restores nothing, a generation model whose outputs are all the same must each fail the run.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import sys
from types import ModuleType
from typing import Any

import pytest
from support.benchmarks import load_benchmark

pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


def run_main(module: ModuleType, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`module.main()` with `argv` as its command line; returns what it printed."""
    monkeypatch.setattr(sys, "argv", [module.__file__, *argv])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = module.main()
    assert status in (0, None)
    return out.getvalue()


def main_fails(module: ModuleType, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """`module.main()` must end with an error (SystemExit, non-zero); returns its message."""
    monkeypatch.setattr(sys, "argv", [module.__file__, *argv])
    with pytest.raises(SystemExit) as raised, contextlib.redirect_stdout(io.StringIO()):
        module.main()
    assert raised.value.code not in (0, None)
    return str(raised.value)


def ratio_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if load_benchmark("run_all").is_result_line(line)]


def test_overhead_same_weights_as_raw_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    overhead = load_benchmark("overhead")
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
        for other in ("raw", "transformers"):
            (line,) = [
                line
                for line in ratio_lines(text)
                if line.startswith(f"overhead {case}: ours vs {other}: ")
            ]
            # Whole runs by wall and CPU time, and the step-interleaved runs: each with its spread.
            assert len(re.findall(r"\d+\.\d{3}x \[\d+\.\d{3}-\d+\.\d{3}\]", line)) == 3, line


def test_overhead_reports_the_spread_of_per_round_ratios() -> None:
    overhead = load_benchmark("overhead")
    ratios = {
        "wall": {"ours": [1.0, 1.0, 1.0], "raw": [0.9, 0.95, 0.97]},
        "cpu": {"ours": [1.0, 1.0, 1.0], "raw": [0.91, 0.96, 0.99]},
        "paired": {"raw": [0.94, 0.93]},
    }
    (line,) = overhead.report("mlp", ratios)
    assert line == (
        "overhead mlp: ours vs raw: 0.950x [0.900-0.970] steps/s "
        "(by CPU time 0.960x [0.910-0.990]; step-interleaved 0.935x [0.930-0.940])"
    )


def test_overhead_weights_that_differ_in_a_later_round_fail() -> None:
    overhead = load_benchmark("overhead")
    same = overhead.torch.ones(3)
    other = same.clone()
    other[1] += 1e-7

    def results(last_transformers: object) -> dict[str, list[object]]:
        run = overhead.Result
        return {
            "raw": [run(1.0, 1.0, same), run(1.0, 1.0, same)],
            "ours": [run(1.0, 1.0, same), run(1.0, 1.0, same)],
            "transformers": [run(1.0, 1.0, same), run(1.0, 1.0, last_transformers)],
        }

    paired = [("ours", same, same), ("transformers", same, same)]
    assert "ours identical, transformers identical" in overhead.check_weights(
        "mlp", results(same), paired
    )
    with pytest.raises(SystemExit, match="transformers, round 1"):
        overhead.check_weights("mlp", results(other), paired)
    with pytest.raises(SystemExit, match="ours, step-interleaved"):
        overhead.check_weights("mlp", results(same), [("ours", same, other)])


@pytest.mark.parametrize("contender", ["raw", "trainer", "transformers"])
def test_startup_first_step_scripts_run(
    contender: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process (the real benchmark spawns fresh ones): each script reaches its first step.
    startup = load_benchmark("startup")
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
    eval_predict = load_benchmark("eval_predict")
    for argmax in (False, True):
        raw, ours = (eval_predict.run(name, 24, argmax) for name in ("raw", "ours"))
        assert raw["shape"] == ours["shape"] == ([24, 64] if argmax else [24, 64, 128])
        assert raw["digest"] == ours["digest"]


def test_eval_predict_ragged_identical_predictions() -> None:
    # 130 samples: three batches of 64 of different widths, in both orders, every variant.
    eval_predict = load_benchmark("eval_predict")
    plan = eval_predict.ragged_plan(["random", "sorted"], slow_reference=True)
    measured = eval_predict.run_ragged(130, plan)
    for order in ("random", "sorted"):
        for concat in (True, False):
            raw = measured[("raw", order, None, concat)]
            assert raw["shape"] == ([130, 64, 512] if concat else "3 arrays")
            for accumulation in (8, None):
                for name in ("ours", "transformers"):
                    assert measured[(name, order, accumulation, concat)]["digest"] == raw["digest"]


def _fake_run(digests: dict[tuple[str, int], str]) -> Any:
    """A stand-in for eval_predict.run: every call a result, the digest `digests` says."""
    calls: dict[str, int] = {}

    def run(contender: str, n: int, argmax: bool) -> dict[str, object]:
        number = calls[contender] = calls.get(contender, -1) + 1
        digest = digests.get((contender, number), "same")
        return {"seconds": 1.0, "extra_mb": 1.0, "shape": [n, 64], "digest": digest}

    return run


@pytest.mark.parametrize("contender", ["raw", "ours", "transformers"])
def test_eval_predict_mismatch_in_a_later_round_fails(
    contender: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eval_predict = load_benchmark("eval_predict")
    argv = ["--rounds", "3", "--cases", "argmax"]
    monkeypatch.setattr(eval_predict, "run", _fake_run({}))
    assert "ours vs raw" in run_main(eval_predict, argv, monkeypatch)
    monkeypatch.setattr(eval_predict, "run", _fake_run({(contender, 2): "other"}))
    assert f"{contender}, round 2" in main_fails(eval_predict, argv, monkeypatch)


def test_eval_predict_ragged_mismatch_in_a_later_round_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eval_predict = load_benchmark("eval_predict")
    calls = [0]

    def run_ragged(n: int, plan: list[Any]) -> dict[Any, dict[str, object]]:
        calls[0] += 1
        out = {}
        for step in plan:
            broken = calls[0] == 2 and step == ("ours", "sorted", None, False)
            digest = "other" if broken else f"{step[1]}-{step[3]}"
            out[step] = {"seconds": 1.0, "cpu_seconds": 1.0, "extra_mb": 1.0, "shape": [n]}
            out[step]["digest"] = digest
        return out

    monkeypatch.setattr(eval_predict, "run_ragged", run_ragged)
    message = main_fails(
        eval_predict,
        ["--cases", "ragged-random,ragged-sorted", "--ragged-rounds", "2"],
        monkeypatch,
    )
    assert "ragged-sorted acc=- list] ours, round 1" in message


def test_checkpoint_io_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    checkpoint_io = load_benchmark("checkpoint_io")
    text = run_main(
        checkpoint_io, ["--rounds", "2", "--width", "16", "--dir", str(tmp_path)], monkeypatch
    )
    assert any("ours vs transformers: save" in line for line in ratio_lines(text))
    assert "identical to the saved one: ours and transformers, all 2 rounds" in text


@pytest.mark.parametrize(
    "loader",
    [
        "load_checkpoint_model",
        "load_checkpoint_optimizer_and_scheduler",
        "load_checkpoint_rng",
        "transformers._load_from_checkpoint",
        "transformers._load_optimizer_and_scheduler",
        "transformers._load_rng_state",
    ],
)
def test_checkpoint_io_a_load_that_restores_nothing_fails(
    loader: str, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Loaded into a freshly built model and optimizer, a load that does nothing cannot pass.
    checkpoint_io = load_benchmark("checkpoint_io")
    if loader.startswith("transformers."):
        trainer_class = checkpoint_io.transformers.Trainer
        monkeypatch.setattr(trainer_class, loader.split(".")[1], lambda self, *a, **k: None)
        who = "transformers"
    else:
        monkeypatch.setattr(checkpoint_io, loader, lambda *a, **k: None)
        who = "ours"
    argv = ["--rounds", "1", "--width", "16", "--dir", str(tmp_path)]
    assert main_fails(checkpoint_io, argv, monkeypatch).startswith(f"{who}: the loaded")


def test_seq2seq_generation_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seq2seq = load_benchmark("seq2seq_generation")
    text = run_main(seq2seq, ["--rounds", "1", "--examples", "8"], monkeypatch)
    assert len(ratio_lines(text)) == 2
    assert "num_beams=1: 8 distinct sequences of 8" in text


def test_seq2seq_generation_constant_outputs_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # Untrained, the tiny T5 generates the same sequence for every input.
    seq2seq = load_benchmark("seq2seq_generation")
    argv = ["--rounds", "1", "--examples", "8", "--train-steps", "0"]
    assert "every generated sequence is the same" in main_fails(seq2seq, argv, monkeypatch)


def test_seq2seq_generation_mismatch_in_a_later_round_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seq2seq = load_benchmark("seq2seq_generation")

    class Drifting(seq2seq.Seq2SeqTrainer):  # type: ignore[name-defined,misc]
        """Ours, except that from its second predict() on one token differs."""

        calls = 0

        def predict(self, *args: Any, **kwargs: Any) -> Any:
            output = super().predict(*args, **kwargs)
            Drifting.calls += 1
            if Drifting.calls > 1:
                output.predictions[0, -1] += 1
            return output

    monkeypatch.setattr(seq2seq, "Seq2SeqTrainer", Drifting)
    argv = ["--rounds", "1", "--examples", "8"]
    assert "round 1: ours' predictions differ" in main_fails(seq2seq, argv, monkeypatch)


def test_gpu_script_skips_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = load_benchmark("gpu")
    if gpu.torch.cuda.is_available():
        pytest.skip("a GPU is present: gpu.py is a benchmark to run by hand there")
    text = run_main(gpu, [], monkeypatch)
    assert "no CUDA device, skipped" in text
