"""`TrainingArguments(log_level=...)` sets the libraries' verbosity, as transformers does: with
"info" the "***** Running training *****" banner reaches stderr; with the default it does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.reference

SCRIPT = """
import sys, torch
from torch import nn
module = __import__(sys.argv[1])

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return {"loss": nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)}

data = [{"x": torch.ones(2), "labels": torch.tensor(1.0)}] * 4
args = module.TrainingArguments(
    output_dir=sys.argv[2], use_cpu=True, report_to="none", disable_tqdm=True, max_steps=1,
    save_strategy="no", log_level=sys.argv[3],
)
module.Trainer(model=Model(), args=args, train_dataset=data).train()
"""


def _stderr(tmp_path: Path, module: str, level: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), module, str(tmp_path / module), level],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_reference_behaviour(tmp_path: Path) -> None:
    assert "***** Running training *****" in _stderr(tmp_path, "transformers", "info")


def test_info_level_shows_the_training_banner(tmp_path: Path) -> None:
    assert "***** Running training *****" in _stderr(tmp_path, "trainer", "info")


def test_default_level_stays_quiet(tmp_path: Path) -> None:
    assert "***** Running training *****" not in _stderr(tmp_path, "trainer", "passive")


# The logging set-up of transformers' official example scripts (run_clm.py, run_glue.py, ...):
# configure logging, give transformers INFO on the main process, then apply the level the
# arguments give back to the script's own logger and to transformers.
EXAMPLE = """
import logging, sys, torch
from torch import nn
import transformers
module = __import__(sys.argv[1])

logging.basicConfig(format="%(message)s", handlers=[logging.StreamHandler(sys.stdout)])
# Both libraries' records reach the script's handler (stdout), so they can be compared.
transformers.utils.logging.disable_default_handler()
transformers.utils.logging.enable_propagation()
args = module.TrainingArguments(
    output_dir=sys.argv[2], use_cpu=True, report_to="none", disable_tqdm=True, max_steps=6,
    per_device_train_batch_size=4, logging_steps=100, save_steps=3, eval_strategy="steps",
    eval_steps=3, save_total_limit=1, load_best_model_at_end=True,
    log_level="info" if sys.argv[3] == "info" else "passive",
)
if sys.argv[3] == "example":
    if args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = args.get_process_log_level()
    logging.getLogger("script").setLevel(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    print("process log level", log_level)

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return {"loss": nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)}

torch.manual_seed(0)
data = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(20)]
trainer = module.Trainer(model=Model(), args=args, train_dataset=data, eval_dataset=data[:8])
trainer.train()
trainer.evaluate()
trainer.predict(data[:4])
trainer.save_model()
"""
# Deliberate: our Trainer does not advertise the Hub after training.
_HUB_ADVERT = " Do not forget to share your model on huggingface.co/models =)"


def _example_lines(tmp_path: Path, module: str, mode: str) -> list[str]:
    script = tmp_path / "example.py"
    script.write_text(EXAMPLE)
    out = tmp_path / module
    done = subprocess.run(
        [sys.executable, str(script), module, str(out), mode],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [
        line.replace(str(out), "OUT").replace(_HUB_ADVERT, "") for line in done.stdout.splitlines()
    ]
    # The metrics dicts the Trainer prints, and the device set-up line, which transformers
    # writes while building the arguments (ours when the devices are first used).
    return [
        line
        for line in lines
        if line.strip() and not line.startswith("{") and "setting up devices" not in line
    ]


def test_examples_passive_level_is_the_one_the_script_gave_transformers(tmp_path: Path) -> None:
    ours = _example_lines(tmp_path, "trainer", "example")
    theirs = _example_lines(tmp_path, "transformers", "example")
    assert ours[0] == theirs[0] == "process log level 20"
    assert ours == theirs


def test_info_level_messages_read_as_transformers_writes_them(tmp_path: Path) -> None:
    ours = _example_lines(tmp_path, "trainer", "info")
    theirs = _example_lines(tmp_path, "transformers", "info")
    assert "***** Running training *****" in ours
    assert "  Number of trainable parameters = 3" in ours
    assert "Saving model checkpoint to OUT/checkpoint-3" in ours
    assert ours == theirs


def test_passive_without_a_script_level_stays_quiet_as_transformers(tmp_path: Path) -> None:
    ours = _example_lines(tmp_path, "trainer", "plain")
    theirs = _example_lines(tmp_path, "transformers", "plain")
    assert "***** Running training *****" not in ours
    assert ours == theirs
