"""Start-up: import times and time to the first optimizer step, in fresh processes.

Every measurement starts a new Python process; contenders are interleaved
(A B C A B C ...) and the median of the rounds is reported.

- Import: wall time of `python -c "<import line>"`, against `python -c pass`.
- First step: wall-clock time from just before the process is spawned to the
  end of the first optimizer step of a tiny model (the child prints
  `time.time()` at that moment), for a raw loop, ours and transformers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

IMPORTS = {
    "python -c pass": "pass",
    "import trainer_args": "import trainer_args",
    "from trainer_args import TrainingArguments": "from trainer_args import TrainingArguments",
    "from transformers import TrainingArguments": "from transformers import TrainingArguments",
    "import trainer": "import trainer",
    "from trainer import Trainer": "from trainer import Trainer",
    "from transformers import Trainer": "from transformers import Trainer",
}

_MODEL = """
import torch
from torch import nn

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x, labels=None):
        pred = self.net(x).squeeze(-1)
        return {"loss": nn.functional.mse_loss(pred, labels), "logits": pred}

g = torch.Generator().manual_seed(0)
X = torch.randn(256, 16, generator=g)
DATA = [{"x": X[i], "labels": X[i].sum() * 0.1} for i in range(256)]
"""

RAW = (
    _MODEL
    + """
import time
# The work a Trainer's first step does: seeded data order, fused AdamW with two parameter
# groups, the linear schedule, clipping (TrainingArguments' defaults).
torch.manual_seed(42)
model = MLP()
generator = torch.Generator().manual_seed(42)
loader = torch.utils.data.DataLoader(
    DATA, batch_size=16, sampler=torch.utils.data.RandomSampler(DATA, generator=generator)
)
decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.0}, {"params": no_decay, "weight_decay": 0.0}],
    lr=5e-5, fused=True,
)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (5 - s) / 5))
for inputs in loader:
    loss = model(**inputs)["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    print(time.time(), flush=True)
    break
"""
)

FRAMEWORK = (
    """
import time, sys
from MODULE import Trainer, TrainingArguments, TrainerCallback
"""
    + _MODEL
    + """
class FirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        print(time.time(), flush=True)
        control.should_training_stop = True

args = TrainingArguments(output_dir=sys.argv[1], per_device_train_batch_size=16, max_steps=5,
                         save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True,
                         logging_strategy="no")
Trainer(model=MLP(), args=args, train_dataset=DATA, callbacks=[FirstStep()]).train()
"""
)


PROJECT_PACKAGES = ("trainer_args", "trainer_dist", "trainer_loop", "trainer_seq2seq", "trainer")


def byte_compile_project() -> None:
    """Write the project's bytecode caches before timing imports.

    pip byte-compiles an installed wheel, as it did transformers and torch; the project's
    packages are installed editable here, and with PYTHONDONTWRITEBYTECODE set (as on CI
    machines) every import would compile their sources again: 20+ ms that no installed copy
    pays. `compileall` writes the caches once, whatever that variable says.
    """
    import compileall
    import importlib.util

    for name in PROJECT_PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            compileall.compile_dir(folder, quiet=1)


def _time_process(code: str, *argv: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True)
    return time.perf_counter() - start


def _time_first_step(code: str, *argv: str) -> float:
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True
    )
    return float(done.stdout.split()[0]) - start


def measure_imports(rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in IMPORTS}
    for _ in range(rounds):
        for key, code in IMPORTS.items():
            times[key].append(_time_process(code))
    return {k: statistics.median(v) for k, v in times.items()}


def measure_first_step(rounds: int) -> dict[str, float]:
    scripts = {
        "raw": RAW,
        "ours": FRAMEWORK.replace("MODULE", "trainer"),
        "transformers": FRAMEWORK.replace("MODULE", "transformers"),
    }
    times: dict[str, list[float]] = {k: [] for k in scripts}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(rounds):
            for key, code in scripts.items():
                times[key].append(_time_first_step(textwrap.dedent(code), out))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--first-step-rounds", type=int, default=None, help="default: max(3, rounds // 2)"
    )
    opts = parser.parse_args(argv)
    byte_compile_project()
    imports = measure_imports(opts.rounds)
    for key, value in imports.items():
        print(f"[startup/import] {key:45s} {value * 1000:8.1f} ms")
    first_rounds = opts.first_step_rounds or max(3, opts.rounds // 2)
    first = measure_first_step(first_rounds)
    for key, value in first.items():
        print(f"[startup/first-step] {key:14s} {value:6.2f} s")
    a, t = (
        "from trainer_args import TrainingArguments",
        "from transformers import TrainingArguments",
    )
    bare = imports["python -c pass"]
    print(
        f"import trainer_args: {imports['import trainer_args'] * 1000:.0f} ms (target < 100 ms; "
        f"{(imports['import trainer_args'] - bare) * 1000:.0f} ms over `python -c pass`)"
    )
    print(
        f"startup import TrainingArguments: ours vs transformers: {imports[t] / imports[a]:.1f}x faster"
    )
    b, u = "from trainer import Trainer", "from transformers import Trainer"
    print(f"startup import Trainer: ours vs transformers: {imports[u] / imports[b]:.2f}x faster")
    print(
        f"startup first step: ours vs raw: {first['ours'] / first['raw']:.3f}x the time (target <= 1.15x)"
    )
    print(
        f"startup first step: ours vs transformers: {first['transformers'] / first['ours']:.2f}x faster"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
