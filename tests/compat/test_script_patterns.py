"""Whole scripts as transformers users write them, run with only the import line switched.

`scripts/alpaca_train.py` is an Alpaca-style `train.py` (three argument dataclasses, a
`@dataclass` subclass of `TrainingArguments` with its own `__post_init__`, a `Trainer`
subclass overriding `compute_loss`, `trainer._save(..., state_dict=...)`);
`scripts/run_clm_style.py` follows transformers' official `run_clm.py` to its last line
(`save_model`, `log_metrics` / `save_metrics` / `save_state`, `evaluate`,
`create_model_card`). Each runs in a fresh process once per library; ours runs with every
socket connection refused, so nothing it does can reach the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.reference, pytest.mark.slow]
pytest.importorskip("transformers")
pytest.importorskip("datasets")
yaml = pytest.importorskip("yaml")
safetensors_torch = pytest.importorskip("safetensors.torch")

SCRIPTS = Path(__file__).parent / "scripts"
ALPACA_DATA = [
    {"instruction": "say hi", "output": " hi."},
    {"instruction": "count", "output": " one two three."},
    {"instruction": "name a colour", "output": " blue."},
    {"instruction": "greet the world", "output": " hello world."},
    {"instruction": "spell cat", "output": " c a t."},
] * 4
# Runs the script as `python script.py ...` would, with connections refused.
OFFLINE_RUNNER = """
import runpy, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network access attempted by the script under test")

socket.socket.connect = refuse
socket.create_connection = refuse
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def _run(
    tmp_path: Path, name: str, library: str, argv: list[str]
) -> subprocess.CompletedProcess[str]:
    """Run `scripts/name` with its `from trainer import` line naming `library`; exit code 0 expected."""
    source = (
        (SCRIPTS / name).read_text().replace("\nfrom trainer import", f"\nfrom {library} import")
    )
    script = tmp_path / f"{library}_{name}"
    script.write_text(source)
    command = [sys.executable, "-c", OFFLINE_RUNNER, str(script), *argv]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def _result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]


def _weights(folder: Path) -> dict[str, Any]:
    return safetensors_torch.load_file(str(folder / "model.safetensors"))


def test_alpaca_style_train_script(tmp_path: Path) -> None:
    (tmp_path / "alpaca.json").write_text(json.dumps(ALPACA_DATA))
    argv = ["--data_path", "alpaca.json", "--max_steps", "6", "--per_device_train_batch_size", "4",
            "--gradient_accumulation_steps", "2", "--learning_rate", "1e-3", "--logging_steps", "1",
            "--model_max_length", "48", "--save_strategy", "no", "--report_to", "none",
            "--use_cpu"]  # fmt: skip
    ours = _run(tmp_path, "alpaca_train.py", "trainer", [*argv, "--output_dir", "ours"])
    theirs = _run(tmp_path, "alpaca_train.py", "transformers", [*argv, "--output_dir", "theirs"])
    mine, reference = _result(ours), _result(theirs)
    assert mine["type"] == reference["type"] == "TrainingArguments"  # the script's subclass
    assert mine["model_max_length"] == reference["model_max_length"] == 48
    assert len(mine["losses"]) == 6
    assert mine["losses"] == pytest.approx(reference["losses"], rel=1e-5)
    saved = json.loads((tmp_path / "ours" / "training_args.json").read_text())
    assert (saved["model_max_length"], saved["optim"], saved["cache_dir"]) == (
        48,
        "adamw_torch",
        None,
    )
    our_weights, their_weights = _weights(tmp_path / "ours"), _weights(tmp_path / "theirs")
    assert sorted(our_weights) == sorted(their_weights)
    for key, value in their_weights.items():
        assert our_weights[key].allclose(value, rtol=1e-4, atol=1e-6), key


CLM_ARGS = ["--do_train", "--do_eval", "--per_device_train_batch_size", "4",
            "--gradient_accumulation_steps", "2", "--learning_rate", "1e-3",
            "--lr_scheduler_type", "cosine", "--max_grad_norm", "0.5", "--eval_strategy", "steps",
            "--eval_steps", "4", "--logging_steps", "2", "--save_steps", "4",
            "--save_total_limit", "1", "--load_best_model_at_end",
            "--metric_for_best_model", "accuracy", "--report_to", "none", "--use_cpu"]  # fmt: skip
_RUNTIME = ("_runtime", "_per_second", "model_preparation_time")


def _card(folder: Path) -> tuple[dict[str, Any], str]:
    """The card's front matter (parsed) and its text, with the folder name and versions cut."""
    text = (folder / "README.md").read_text().replace(folder.name, "OUT")
    _, front, body = text.split("---\n", 2)
    body = body[: body.index("### Framework versions")]
    return yaml.safe_load(front), body


def _numbers(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not any(part in k for part in _RUNTIME)}


def _clm(tmp_path: Path, library: str, out: str) -> None:
    # The first run stops at step 4; the second finds checkpoint-4 with get_last_checkpoint
    # and resumes it with more steps, as an official example does when re-run.
    _run(
        tmp_path, "run_clm_style.py", library, [*CLM_ARGS, "--output_dir", out, "--max_steps", "4"]
    )
    _run(
        tmp_path, "run_clm_style.py", library, [*CLM_ARGS, "--output_dir", out, "--max_steps", "8"]
    )


def test_official_example_runs_to_its_last_line(tmp_path: Path) -> None:
    _clm(tmp_path, "trainer", "ours")
    _clm(tmp_path, "transformers", "theirs")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    our_meta, our_body = _card(ours)
    their_meta, their_body = _card(theirs)
    assert our_meta == their_meta
    assert our_body == their_body
    assert "| Training Loss | Epoch  | Step |" in our_body
    versions = (ours / "README.md").read_text().split("### Framework versions")[1]
    assert "- Trainer " in versions and "- Pytorch " in versions
    for name in ("all_results.json", "train_results.json", "eval_results.json"):
        mine, reference = (_numbers(json.loads((d / name).read_text())) for d in (ours, theirs))
        assert sorted(mine) == sorted(reference), name
        assert mine == pytest.approx(reference, rel=1e-5), name
    our_state = json.loads((ours / "trainer_state.json").read_text())
    their_state = json.loads((theirs / "trainer_state.json").read_text())
    assert our_state["global_step"] == their_state["global_step"] == 8
    assert len(our_state["log_history"]) == len(their_state["log_history"])
    for mine, reference in zip(our_state["log_history"], their_state["log_history"]):
        assert _numbers(mine) == pytest.approx(_numbers(reference), rel=1e-5)
    assert sorted(p.name for p in ours.glob("checkpoint-*")) == sorted(
        p.name for p in theirs.glob("checkpoint-*")
    )
