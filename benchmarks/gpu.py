"""GPU throughput: GPT-2 small (124M), sequence 1024, bf16 autocast, one GPU.

Contenders, each with and without `torch.compile`, interleaved rounds:
- raw: a hand-written loop (AdamW fused, bf16 autocast, clip, linear schedule);
- ours: `trainer.Trainer` (`bf16=True`, `torch_compile=...`);
- transformers: `transformers.Trainer` with the same arguments.
Reports tokens/s and achieved TFLOP/s (6 * params * tokens, plus attention)
between the end of the warm-up steps and the last step, and one ratio line
per comparison, ours first. Uses only torch, transformers, accelerate, the
standard library and the project's packages. Skips (exit 0) without CUDA.

Run: PYTHONPATH=packages/args/src:packages/dist/src:packages/loop/src:packages/seq2seq/src:packages/trainer/src \
     python benchmarks/gpu.py
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from typing import Any

import torch

SEQ = 1024
BATCH = 8
WARM = 8


def build_model() -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_positions=SEQ, n_ctx=SEQ)
    return GPT2LMHeadModel(config)


def flops_per_token(model: torch.nn.Module) -> float:
    params = sum(p.numel() for p in model.parameters())
    cfg = model.config  # type: ignore[attr-defined]
    return 6 * params + 12 * cfg.n_layer * cfg.n_embd * SEQ


def make_data(steps: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50257, (steps * BATCH, SEQ), generator=g)
    return [{"input_ids": row, "labels": row} for row in ids]


def run_raw(steps: int, compile_: bool) -> float:
    model = build_model().cuda()
    data = make_data(steps)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, pin_memory=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))
    fwd = torch.compile(model) if compile_ else model
    marks: dict[int, float] = {}
    for step, batch in enumerate(loader, start=1):
        batch = {k: v.cuda(non_blocking=True) for k, v in batch.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fwd(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step in (WARM, steps):
            torch.cuda.synchronize()
            marks[step] = time.perf_counter()
    return (steps - WARM) * BATCH * SEQ / (marks[steps] - marks[WARM])


def run_framework(module: str, steps: int, compile_: bool) -> float:
    mod = __import__(module, fromlist=["Trainer", "TrainingArguments", "TrainerCallback"])
    marks: dict[int, float] = {}

    class Clock(mod.TrainerCallback):  # type: ignore[name-defined,misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step in (WARM, steps):
                torch.cuda.synchronize()
                marks[state.global_step] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        args = mod.TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=1e-4,
            bf16=True,
            torch_compile=compile_,
            optim="adamw_torch_fused",
            max_grad_norm=1.0,
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=True,
            lr_scheduler_type="linear",
        )
        trainer = mod.Trainer(
            model=build_model(), args=args, train_dataset=make_data(steps), callbacks=[Clock()]
        )
        trainer.train()
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()
    return (steps - WARM) * BATCH * SEQ / (marks[steps] - marks[WARM])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true")
    opts = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu.py: no CUDA device, skipped")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = True
    fpt = flops_per_token(build_model())
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    lines = []
    for compile_ in [False] if opts.no_compile else [False, True]:
        runners = {
            "raw": lambda c=compile_: run_raw(opts.steps, c),
            "ours": lambda c=compile_: run_framework("trainer", opts.steps, c),
            "transformers": lambda c=compile_: run_framework("transformers", opts.steps, c),
        }
        results: dict[str, list[float]] = {k: [] for k in runners}
        for _ in range(opts.rounds):
            for key, run in runners.items():
                results[key].append(run())
                torch.cuda.empty_cache()
                if compile_:
                    torch._dynamo.reset()
        tag = "compile" if compile_ else "eager"
        med = {k: statistics.median(v) for k, v in results.items()}
        for key, tps in med.items():
            print(
                f"[gpu/{tag}] {key:13s} {tps / 1e3:8.1f}k tokens/s  {tps * fpt / 1e12:6.1f} TFLOP/s"
            )
        lines.append(f"gpu {tag}: ours vs raw: {med['ours'] / med['raw']:.3f}x tokens/s")
        lines.append(
            f"gpu {tag}: ours vs transformers: {med['ours'] / med['transformers']:.3f}x tokens/s"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
