"""Per-step overhead on CPU, one thread, tiny models where the framework dominates.

Contenders, run interleaved (A B C A B C ...) in one process, median of rounds:
- raw: a hand-written PyTorch loop doing the same work as a Trainer step and
  nothing else: the same sampler (a RandomSampler seeded as accelerate seeds
  the Trainer's), the same collation (`default_data_collator`), the same fused
  AdamW (the default `optim`, adamw_torch_fused) with the same parameter
  groups (no decay for biases and LayerNorm weights), the same linear
  warmup/decay schedule, clipping at 1.0, `zero_grad(set_to_none=True)`, the
  loss divided by the step's label count where the model takes
  `num_items_in_batch`, and the running loss and gradient norm read every
  `logging_steps` (50) steps;
- ours: `trainer.Trainer`;
- transformers: `transformers.Trainer`;
- lightning: `lightning.Trainer`, when installed.

Steady-state steps/s is measured between the end of step WARM and the end of
the last step, so one-off set-up costs (which `startup.py` measures) do not
count here. Two clocks: wall time (what the targets are about) and the
process's CPU time (`time.process_time`, one torch thread, no DataLoader
workers), which a busy machine disturbs far less. The ratios are taken per
round (runs next to each other in time) and reported with their spread, as
median [min-max] over the rounds. "Same results" is checked: each
contender's final weights are compared with the raw loop's (bitwise), in
every round and every step-interleaved run; a difference ends the run with
an error (exit status 1).

A cross-check that the machine's speed cannot move: each Trainer's steps
alternate one by one with the raw loop's steps in one process (`run_paired`).
It flatters the heavier loop somewhat (its cache traffic slows the raw step
next to it), so the whole-run ratios are the ones the targets are read from.
Prints one ratio line per comparison, ours first.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

WARM = 20
SEED = 42  # TrainingArguments.seed: both Trainers call set_seed(42) before training
LOGGING_STEPS = 50


class Result(NamedTuple):
    wall: float  # steps/s by wall clock
    cpu: float  # steps/s by process CPU time
    weights: torch.Tensor  # final parameters, flattened


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


class Case(NamedTuple):
    build: Callable[[], nn.Module]
    data: list[dict[str, torch.Tensor]]
    batch: int
    # Models whose forward takes `num_items_in_batch` get the step's label count from the
    # Trainers (loss = sum / count, the count over the unshifted labels, as transformers does).
    counts_items: bool


def make_mlp() -> Case:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 16, generator=g)
    y = x.sum(-1) * 0.1
    data = [{"x": x[i], "labels": y[i]} for i in range(len(x))]

    def build() -> nn.Module:
        torch.manual_seed(0)
        return MLPRegression()

    return Case(build, data, 16, counts_items=False)


def make_gpt() -> Case:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=256, n_positions=64)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 256, (2048, 32), generator=g)
    data = [{"input_ids": ids[i], "labels": ids[i]} for i in range(len(ids))]

    def build() -> nn.Module:
        torch.manual_seed(0)
        return GPT2LMHeadModel(config)

    return Case(build, data, 8, counts_items=True)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()]).clone()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay for everything but biases and LayerNorm parameters (the Trainers' rule)."""
    no_decay = {
        id(p)
        for module in model.modules()
        for name, p in module.named_parameters(recurse=False)
        if isinstance(module, nn.LayerNorm) or name == "bias"
    }
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]


class RawLoop:
    """The hand-written loop, one optimizer step per `step()` call.

    `run_raw` runs it alone; `run_paired` runs one of its steps after each step of a Trainer,
    so that both see the same machine at the same moment.
    """

    def __init__(self, case: Case, steps: int) -> None:
        from transformers import default_data_collator

        self.case = case
        self.model = case.build()
        self.model.train()
        _seed_all(SEED)
        # accelerate gives the Trainer's RandomSampler a generator seeded with seed + epoch.
        self.generator = torch.Generator()
        self.loader = torch.utils.data.DataLoader(
            case.data,
            batch_size=case.batch,
            sampler=torch.utils.data.RandomSampler(case.data, generator=self.generator),
            collate_fn=default_data_collator,
            drop_last=True,
        )
        self.params = list(self.model.parameters())
        # TrainingArguments' default optim is adamw_torch_fused: the fused kernel, on CPU too.
        self.opt = torch.optim.AdamW(
            _param_groups(self.model, 0.01), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True
        )
        warmup = steps // 10

        def linear(s: int) -> float:
            if s < warmup:
                return float(s) / float(max(1, warmup))
            return max(0.0, float(steps - s) / float(max(1, steps - warmup)))

        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, linear)
        self.running = torch.tensor(0.0)
        self.logs: list[tuple[float, float]] = []
        self.done, self.epoch = 0, 0
        self.batches: Any = None

    def _next_batch(self) -> dict[str, torch.Tensor]:
        while True:
            if self.batches is None:
                self.generator.manual_seed(SEED + self.epoch)
                self.batches = iter(self.loader)
            try:
                return next(self.batches)  # type: ignore[no-any-return]
            except StopIteration:
                self.batches, self.epoch = None, self.epoch + 1

    def step(self) -> None:
        inputs = self._next_batch()
        if self.case.counts_items:
            inputs["num_items_in_batch"] = inputs["labels"].ne(-100).sum()
        loss = self.model(**inputs)["loss"]
        loss.backward()
        self.running += loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)
        self.done += 1
        if self.done % LOGGING_STEPS == 0:
            self.logs.append((self.running.item() / LOGGING_STEPS, norm.item()))
            self.running.zero_()


def run_raw(case: Case, steps: int) -> Result:
    loop = RawLoop(case, steps)
    wall0 = cpu0 = 0.0
    for step in range(1, steps + 1):
        loop.step()
        if step == WARM:
            wall0, cpu0 = time.perf_counter(), time.process_time()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Result((steps - WARM) / wall, (steps - WARM) / cpu, _flat(loop.model))


def run_paired(module: str, case: Case, steps: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The framework's steps/s over the raw loop's, one raw step after each framework step.

    Both loops alternate step by step in one process, so a change in the machine's speed
    (other jobs, a busy host) hits both alike; the ratio is of the per-step medians. The
    raw step runs inside the framework's `on_step_end`, so the framework's time includes
    one callback's call (a few µs): the ratio is, if anything, low for the framework.
    Also returns the final weights of both loops (they must be the same).
    """
    mod = __import__(module, fromlist=["Trainer", "TrainingArguments", "TrainerCallback"])
    raw = RawLoop(case, steps)
    framework_times: list[float] = []
    raw_times: list[float] = []
    last_end = [0.0]

    # The raw loop's own torch random stream (dropout, the DataLoader's base seed), as it is
    # when it runs alone: sharing the global one, the two loops would interleave their draws
    # and neither would end with the weights of a run on its own.
    own_rng = [torch.get_rng_state()]

    class Pair(mod.TrainerCallback):  # type: ignore[name-defined,misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            if state.global_step > WARM:
                framework_times.append(start - last_end[0])
            shared = torch.get_rng_state()
            torch.set_rng_state(own_rng[0])
            raw_start = time.perf_counter()
            raw.step()
            raw_end = time.perf_counter()
            own_rng[0] = torch.get_rng_state()
            torch.set_rng_state(shared)
            if state.global_step > WARM:
                raw_times.append(raw_end - raw_start)
            last_end[0] = time.perf_counter()  # the swaps of random state count for neither

    model = _train(mod, case, steps, Pair())
    ratio = statistics.median(raw_times) / statistics.median(framework_times)
    return ratio, _flat(model), _flat(raw.model)


def _trainer_kwargs(out: str, batch: int, steps: int) -> dict[str, Any]:
    return dict(
        output_dir=out,
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-3,
        weight_decay=0.01,
        warmup_steps=steps // 10,
        max_grad_norm=1.0,
        logging_steps=LOGGING_STEPS,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_drop_last=True,
        seed=SEED,
    )


def _train(mod: Any, case: Case, steps: int, callback: Any) -> nn.Module:
    """Train a fresh model of `case` with `mod.Trainer` and one callback; returns the model."""
    model = case.build()
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        args = mod.TrainingArguments(**_trainer_kwargs(out, case.batch, steps))
        trainer = mod.Trainer(model=model, args=args, train_dataset=case.data, callbacks=[callback])
        trainer.train()
    _reset_accelerate()
    return model


def _run_framework(module: str, case: Case, steps: int) -> Result:
    mod = __import__(module, fromlist=["Trainer", "TrainingArguments", "TrainerCallback"])
    marks: dict[int, tuple[float, float]] = {}

    class Clock(mod.TrainerCallback):  # type: ignore[name-defined,misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step in (WARM, steps):
                marks[state.global_step] = (time.perf_counter(), time.process_time())

    model = _train(mod, case, steps, Clock())
    wall = marks[steps][0] - marks[WARM][0]
    cpu = marks[steps][1] - marks[WARM][1]
    return Result((steps - WARM) / wall, (steps - WARM) / cpu, _flat(model))


def _reset_accelerate() -> None:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def run_lightning(case: Case, steps: int) -> Result:
    import lightning as L

    build, data, batch = case.build, case.data, case.batch
    marks: dict[int, tuple[float, float]] = {}

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build()

        def training_step(self, inputs: dict[str, torch.Tensor], idx: int) -> torch.Tensor:
            return self.model(**inputs)["loss"]

        def on_train_batch_end(self, *a: Any) -> None:
            if self.global_step in (WARM, steps):
                marks[self.global_step] = (time.perf_counter(), time.process_time())

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(_param_groups(self.model, 0.01), lr=1e-3, fused=True)
            warm = steps // 10
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt,
                lambda s: (
                    s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm))
                ),
            )
            return [opt], [{"scheduler": sched, "interval": "step"}]

    from transformers import default_data_collator

    module = Module()
    _seed_all(SEED)
    loader = torch.utils.data.DataLoader(
        data, batch_size=batch, shuffle=True, drop_last=True, collate_fn=default_data_collator
    )
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
    trainer.fit(module, loader)
    wall = marks[steps][0] - marks[WARM][0]
    cpu = marks[steps][1] - marks[WARM][1]
    return Result((steps - WARM) / wall, (steps - WARM) / cpu, _flat(module.model))


def contenders() -> dict[str, Callable[..., Result]]:
    found: dict[str, Callable[..., Result]] = {
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


# Contenders that must end with the raw loop's weights, bit for bit. Lightning is not one: its
# DataLoader shuffles with the global generator, not accelerate's seeded one, so its data order
# (and so its weights) are its own; its difference is printed, not checked.
SAME_WORK = ("raw", "ours", "transformers")


class Mismatch(SystemExit):
    """A contender's final weights differ from the raw loop's: the run fails (exit status 1)."""


def check_weights(
    name: str,
    results: dict[str, list[Result]],
    paired: list[tuple[str, torch.Tensor, torch.Tensor]],
) -> str:
    """Every round of every contender against the raw loop's weights; returns the report line.

    Every whole run (every round, the raw loop's own included: it is deterministic) is
    compared with the raw loop's first run, each step-interleaved run with the raw loop it was
    paired with. Any difference means the loops did not do the same work, so their speeds are
    not comparable: it ends the run.
    """
    ref = results["raw"][0].weights
    for key, rounds in results.items():
        if key not in SAME_WORK:
            continue
        for number, result in enumerate(rounds):
            if not torch.equal(result.weights, ref):
                diff = float((result.weights - ref).abs().max())
                raise Mismatch(
                    f"[overhead/{name}] {key}, round {number}: final weights differ from the "
                    f"raw loop's (max|diff| {diff:.2e})"
                )
    for key, framework, raw in paired:
        if not torch.equal(framework, raw):
            diff = float((framework - raw).abs().max())
            raise Mismatch(
                f"[overhead/{name}] {key}, step-interleaved run: final weights differ from the "
                f"raw loop's (max|diff| {diff:.2e})"
            )
    parts = [f"{key} identical" for key in results if key != "raw" and key in SAME_WORK]
    for key in results:
        if key not in SAME_WORK:
            diff = float((results[key][0].weights - ref).abs().max())
            parts.append(f"{key} max|diff| {diff:.2e} (not checked)")
    rounds = len(results["raw"])
    return (
        f"[overhead/{name}] final weights vs raw: "
        + ", ".join(parts)
        + f" (every one of {rounds} rounds and {len(paired)} step-interleaved runs)"
    )


def measure(
    name: str, make: Callable[[], Case], steps: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Whole runs A B C A B C ... (the ratios are per round, of adjacent runs), then the
    step-interleaved cross-check; returns the per-round ratios of ours over each contender."""
    case = make()
    runners = contenders()
    results: dict[str, list[Result]] = {k: [] for k in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            gc.collect()  # garbage of the previous run is not collected inside this one
            results[key].append(run(case, steps))
    paired: dict[str, list[float]] = {"ours": [], "transformers": []}
    paired_weights: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    for _ in range(max(1, rounds // 2)):
        for key, module in (("ours", "trainer"), ("transformers", "transformers")):
            gc.collect()
            ratio, framework, raw = run_paired(module, case, max(steps, 4 * WARM))
            paired[key].append(ratio)
            paired_weights.append((key, framework, raw))
    ratios: dict[str, dict[str, list[float]]] = {}
    for clock in ("wall", "cpu"):
        med = {k: statistics.median(getattr(r, clock) for r in v) for k, v in results.items()}
        print(
            f"[overhead/{name}] steps/s by {clock} time (median of {rounds}): "
            + ", ".join(f"{k} {v:.1f}" for k, v in med.items())
        )
        for other in runners:
            ratios.setdefault(clock, {})[other] = [
                getattr(a, clock) / getattr(b, clock)
                for a, b in zip(results["ours"], results[other])
            ]
    ratios["paired"] = {"raw": paired["ours"]}
    if paired["transformers"]:
        # Each framework was paired with its own raw loop: the quotient of the two ratios.
        ratios["paired"]["transformers"] = [
            a / b for a, b in zip(paired["ours"], paired["transformers"])
        ]
    print(
        f"[overhead/{name}] step-interleaved with the raw loop, steps/s over the raw loop's: "
        + ", ".join(
            f"{k} {statistics.median(v):.3f} {[round(x, 3) for x in v]}" for k, v in paired.items()
        )
    )
    print(check_weights(name, results, paired_weights))
    return ratios


def spread(values: list[float]) -> str:
    """`median [min-max]` of per-round ratios."""
    return f"{statistics.median(values):.3f}x [{min(values):.3f}-{max(values):.3f}]"


def report(name: str, ratios: dict[str, dict[str, list[float]]]) -> list[str]:
    """Ours first: per-round ratios of whole runs by wall and CPU time, and of the
    step-interleaved runs, each as median [min-max]."""
    wall, cpu, paired = ratios["wall"], ratios["cpu"], ratios["paired"]
    lines = []
    for other in wall:
        if other == "ours":
            continue
        line = (
            f"overhead {name}: ours vs {other}: {spread(wall[other])} steps/s "
            f"(by CPU time {spread(cpu[other])}"
        )
        if other in paired:
            line += f"; step-interleaved {spread(paired[other])}"
        lines.append(line + ")")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    opts = parser.parse_args(argv)
    if opts.steps <= WARM:
        parser.error(f"--steps must be more than {WARM}")
    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    lines: list[str] = []
    for name, make in (("mlp", make_mlp), ("gpt2-2layer", make_gpt)):
        lines += report(name, measure(name, make, opts.steps, opts.rounds))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
