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
