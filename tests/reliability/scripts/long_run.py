"""Many small steps on a tiny model; prints RSS samples and the log history's size as JSON.

    python long_run.py OUT MAX_STEPS LOGGING_STEPS WARMUP_STEP

RSS (VmRSS from /proc/self/status) is read after a garbage collection at WARMUP_STEP and
after training; so is the size of `state.log_history` (its dicts, keys and values).
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import torch

from trainer_args import TrainingArguments
from trainer_loop import Trainer, TrainerCallback


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def log_history_bytes(history: list[dict[str, Any]]) -> int:
    """What the log history holds: the list, each dict, and each key and value object."""
    total = sys.getsizeof(history)
    for entry in history:
        total += sys.getsizeof(entry)
        total += sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in entry.items())
    return total


class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int = 64) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x.sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.linear(x)
        return {"loss": torch.nn.functional.mse_loss(logits, labels), "logits": logits}


class Sample(TrainerCallback):
    def __init__(self, warmup_step: int) -> None:
        self.warmup_step = warmup_step
        self.samples: dict[str, int] = {}

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.warmup_step:
            gc.collect()
            self.samples["warm_rss"] = rss_bytes()
            self.samples["warm_log"] = log_history_bytes(state.log_history)


def main(argv: list[str]) -> int:
    out, max_steps, logging_steps, warmup = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    torch.set_num_threads(1)
    args = TrainingArguments(
        output_dir=out,
        max_steps=max_steps,
        logging_steps=logging_steps,
        per_device_train_batch_size=4,
        learning_rate=0.01,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        log_level="error",  # the printed logs are not what is measured
    )
    sample = Sample(warmup)
    trainer = Trainer(model=Net(), args=args, train_dataset=Data(), callbacks=[sample])
    trainer.train()
    gc.collect()
    sample.samples["end_rss"] = rss_bytes()
    sample.samples["end_log"] = log_history_bytes(trainer.state.log_history)
    sample.samples["log_entries"] = len(trainer.state.log_history)
    sample.samples["global_step"] = trainer.state.global_step
    print("RESULT " + json.dumps(sample.samples), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
