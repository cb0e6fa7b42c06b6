"""transformers is only ever used when the user passes its objects: with it missing, the
documented workflow runs; with it installed, training a plain torch model never imports it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.reference

WORKFLOW = """
import sys, torch, datasets
from torch import nn
import trainer

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x, labels=None):
        out = self.linear(x)
        loss = None if labels is None else nn.functional.mse_loss(out.squeeze(-1), labels)
        return {"loss": loss, "logits": out} if loss is not None else {"logits": out}

g = torch.Generator().manual_seed(0)
x = torch.randn(16, 3, generator=g)
data = datasets.Dataset.from_dict(
    {"x": x.tolist(), "labels": (x.sum(1)).tolist(), "comment": ["extra"] * 16}
).with_format("torch")
args = trainer.TrainingArguments(
    output_dir=OUT, use_cpu=True, report_to="none", disable_tqdm=True, max_steps=4,
    per_device_train_batch_size=4, eval_strategy="steps", eval_steps=2, save_steps=2,
)
t = trainer.Trainer(model_init=Model, args=args, train_dataset=data, eval_dataset=data)
t.train()
metrics = t.evaluate()
t.predict(data)
t.save_model()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
best = t.hyperparameter_search(
    hp_space=lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 1e-3, 1e-1)},
    n_trials=2, sampler=optuna.samplers.TPESampler(seed=0),
)
assert isinstance(best, trainer.BestRun), best
print("TRANSFORMERS_LOADED", "transformers" in sys.modules)
print("OK", metrics["eval_loss"])
"""

BLOCK = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "transformers" or name.startswith("transformers."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, _Block())
"""


def _run(code: str, tmp_path: Path) -> str:
    script = tmp_path / "workflow.py"
    script.write_text(f"OUT = {str(tmp_path / 'out')!r}\n" + textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_workflow_runs_without_transformers(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    out = _run(BLOCK + WORKFLOW, tmp_path)
    assert "TRANSFORMERS_LOADED False" in out and "OK" in out
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_plain_torch_training_does_not_import_transformers(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    out = _run(WORKFLOW, tmp_path)
    assert "TRANSFORMERS_LOADED False" in out
