"""Per-step overhead on CPU, one thread, tiny models where the framework dominates.

Contenders, run interleaved (A B C A B C ...) in one process, median of rounds:
- raw: a minimal hand-written PyTorch loop (DataLoader, forward, backward,
  clip, AdamW, linear warmup schedule, zero_grad) — the physical limit;
- ours: `trainer.Trainer`;
- transformers: `transformers.Trainer`;
- lightning: `lightning.Trainer`, when installed.

Steady-state steps/s is measured between the end of step WARM and the end of
the last step, so one-off set-up costs (which `startup.py` measures) do not
count here. Prints one ratio line per comparison, ours first.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

WARM = 20


class MLPRegression(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        pred = self.net(x).squeeze(-1)
        out = {"logits": pred}
        if labels is not None:
            out["loss"] = nn.functional.mse_loss(pred, labels)
        return out


def make_mlp() -> tuple[Callable[[], nn.Module], list[dict[str, torch.Tensor]], int]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 16, generator=g)
    y = x.sum(-1) * 0.1
    data = [{"x": x[i], "labels": y[i]} for i in range(len(x))]
    return lambda: MLPRegression(), data, 16


def make_gpt() -> tuple[Callable[[], nn.Module], list[dict[str, torch.Tensor]], int]:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=256, n_positions=64)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 256, (2048, 32), generator=g)
    data = [{"input_ids": ids[i], "labels": ids[i]} for i in range(len(ids))]

    def build() -> nn.Module:
        torch.manual_seed(0)
        return GPT2LMHeadModel(config)

    return build, data, 8


def run_raw(
    build: Callable[[], nn.Module], data: list[dict[str, Any]], batch: int, steps: int
) -> float:
    torch.manual_seed(0)
    model = build()
    model.train()
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3,
    )
    warmup = steps // 10
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            s / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup))
        ),
    )
    step, t0 = 0, 0.0
    while step < steps:
        for inputs in loader:
            loss = model(**inputs)["loss"]
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step == WARM:
                t0 = time.perf_counter()
            if step == steps:
                break
    return (steps - WARM) / (time.perf_counter() - t0)


def _trainer_kwargs(out: str, batch: int, steps: int) -> dict[str, Any]:
    return dict(
        output_dir=out,
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-3,
        weight_decay=0.01,
        warmup_steps=steps // 10,
        max_grad_norm=1.0,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_drop_last=True,
    )


def _run_framework(
    module: str, build: Callable[[], nn.Module], data: list[dict[str, Any]], batch: int, steps: int
) -> float:
    mod = __import__(module, fromlist=["Trainer", "TrainingArguments", "TrainerCallback"])
    marks: dict[int, float] = {}

    class Clock(mod.TrainerCallback):  # type: ignore[name-defined,misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step in (WARM, steps):
                marks[state.global_step] = time.perf_counter()

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        args = mod.TrainingArguments(**_trainer_kwargs(out, batch, steps))
        trainer = mod.Trainer(model=build(), args=args, train_dataset=data, callbacks=[Clock()])
        trainer.train()
    _reset_accelerate()
    return (steps - WARM) / (marks[steps] - marks[WARM])


def _reset_accelerate() -> None:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def run_lightning(
    build: Callable[[], nn.Module], data: list[dict[str, Any]], batch: int, steps: int
) -> float:
    import lightning as L

    marks: dict[int, float] = {}

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build()

        def training_step(self, inputs: dict[str, torch.Tensor], idx: int) -> torch.Tensor:
            return self.model(**inputs)["loss"]

        def on_train_batch_end(self, *a: Any) -> None:
            if self.global_step in (WARM, steps):
                marks[self.global_step] = time.perf_counter()

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=0.01)
            warm = steps // 10
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt,
                lambda s: (
                    s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm))
                ),
            )
            return [opt], [{"scheduler": sched, "interval": "step"}]

    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
    )
    trainer.fit(Module(), loader)
    return (steps - WARM) / (marks[steps] - marks[WARM])


def contenders() -> dict[str, Callable[..., float]]:
    found: dict[str, Callable[..., float]] = {
        "raw": run_raw,
        "ours": lambda *a: _run_framework("trainer", *a),
        "transformers": lambda *a: _run_framework("transformers", *a),
    }
    try:
        import lightning  # noqa: F401

        found["lightning"] = run_lightning
    except ImportError:
        pass
    return found


def measure(name: str, make: Callable[[], Any], steps: int, rounds: int) -> dict[str, float]:
    build, data, batch = make()
    runners = contenders()
    results: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            results[key].append(run(build, data, batch, steps))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"[overhead/{name}] steps/s (median of {rounds}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in medians.items())
    )
    return medians


def report(name: str, med: dict[str, float]) -> list[str]:
    lines = []
    for other in [k for k in med if k != "ours"]:
        lines.append(f"overhead {name}: ours vs {other}: {med['ours'] / med[other]:.3f}x steps/s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    lines: list[str] = []
    for name, make in (("mlp", make_mlp), ("gpt2-2layer", make_gpt)):
        lines += report(name, measure(name, make, opts.steps, opts.rounds))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
