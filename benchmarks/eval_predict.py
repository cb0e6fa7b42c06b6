"""Evaluation: `predict()` over samples with variable-length outputs.

Contenders, rounds interleaved, median reported:
- raw: a hand-written no-grad loop;
- ours: `trainer.Trainer.predict`;
- transformers: `transformers.Trainer.predict`.

Two families of cases:
- full-logits / argmax: a small GPT-shaped LM (vocab 128) returns per-token logits for
  samples of 8 to 64 tokens in dataset order (batch 16, `eval_accumulation_steps=8`); the
  raw loop writes into a preallocated, -100-filled array of the known final width, the best
  a hand-written loop can do. The argmax case adds a `preprocess_logits_for_metrics`. Each
  run is a fresh process.
- ragged-random / ragged-sorted: a tiny GPT-2 (vocab 512) returns per-token logits for 5,000
  samples of 8 to 64 tokens, shuffled or sorted by length (batch 64), where the width of the
  result is only known at the end: the raw loop keeps each batch's logits in a list and
  pads/concatenates once at the end (with `eval_do_concat_batches=False`: the list itself).
  Every variant is run: `eval_accumulation_steps` 8 and unset, `eval_do_concat_batches` on
  and off. One process per round runs all contenders one after the other (each warmed up
  first, the allocator trimmed between runs), so that the runs a ratio compares are seconds
  apart; time ratios are per round, reported as median [range], by wall-clock time and by
  the process's CPU time (user + system: page faults count, other processes do not).

Every contender's predictions are checked byte for byte against the raw loop's, in every
round: a difference ends the run with an error (exit status 1). Memory: the peak RSS of the
process during predict() above its RSS just before (the "extra" memory), from /proc's VmHWM
after resetting it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    r"""
    import json, os, sys, tempfile, time, hashlib
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from transformers import GPT2Config, GPT2LMHeadModel

    contender, n, argmax = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=128, n_positions=64)).eval()
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(8, 65, (n,), generator=g).tolist()
    data = [{"input_ids": torch.randint(0, 128, (l,), generator=g)} for l in lengths]
    BS = 16

    def collate(batch):
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, : len(b["input_ids"])] = b["input_ids"]
            mask[i, : len(b["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def argmax_fn(logits, labels):
        return logits.argmax(-1)

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def rss_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1])
        raise RuntimeError(field)

    def run_raw():
        shape = (n, 64) if argmax else (n, 64, 128)
        out = np.full(shape, -100, dtype=np.int64 if argmax else np.float32)
        loader = torch.utils.data.DataLoader(data, batch_size=BS, collate_fn=collate)
        i = 0
        with torch.no_grad():
            for batch in loader:
                logits = model(**batch).logits
                res = logits.argmax(-1) if argmax else logits
                out[i : i + len(res), : res.shape[1]] = res.numpy()
                i += len(res)
        return out

    def run_framework(contender):
        module = {"ours": "trainer", "transformers": "transformers"}[contender]
        mod = __import__(module, fromlist=["Trainer", "TrainingArguments"])
        with tempfile.TemporaryDirectory() as tmp:
            args = mod.TrainingArguments(output_dir=tmp, per_device_eval_batch_size=BS, eval_accumulation_steps=8,
                                         report_to="none", disable_tqdm=True, use_cpu=True)
            trainer = mod.Trainer(model=model, args=args, data_collator=collate,
                                  preprocess_logits_for_metrics=argmax_fn if argmax else None)
            reset_peak(); before = rss_kb("VmRSS"); t0 = time.perf_counter()
            preds = trainer.predict(data).predictions
            return preds, time.perf_counter() - t0, before

    if contender == "raw":
        reset_peak(); before = rss_kb("VmRSS"); t0 = time.perf_counter()
        preds = run_raw(); elapsed = time.perf_counter() - t0
    else:
        preds, elapsed, before = run_framework(contender)
    peak = rss_kb("VmHWM")
    preds = np.asarray(preds)
    # Exact comparison: the same bytes once normalised to float32 logits / int64 token ids.
    preds = preds.astype(np.float32 if np.issubdtype(preds.dtype, np.floating) else np.int64)
    digest = hashlib.sha256(np.ascontiguousarray(preds).tobytes()).hexdigest()
    print(json.dumps({"seconds": elapsed, "extra_mb": (peak - before) / 1024, "shape": list(preds.shape), "digest": digest}))
    """
)


RAGGED_CHILD = textwrap.dedent(
    r"""
    import ctypes, gc, hashlib, json, logging, sys, tempfile, time
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from transformers import GPT2Config, GPT2LMHeadModel

    n, plan = int(sys.argv[1]), json.loads(sys.argv[2])
    VOCAB, BS = 512, 64
    logging.disable(logging.WARNING)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=64,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config).eval()
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(8, 65, (n,), generator=g).tolist()
    samples = [torch.randint(0, VOCAB, (l,), generator=g) for l in lengths]
    # The same samples, shuffled (as generated) or sorted by length.
    datasets = {
        "random": [{"input_ids": t} for t in samples],
        "sorted": [{"input_ids": t} for t in sorted(samples, key=len)],
    }

    def collate(batch):
        # Pads to the batch's longest only: the batches' widths differ.
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, : len(b["input_ids"])] = b["input_ids"]
            mask[i, : len(b["input_ids"])] = 1
        return {"input_ids": ids, "attention_mask": mask}

    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        trim = lambda pad: 0

    def settle():
        # Memory freed by the previous variant goes back to the system (glibc keeps freed heap
        # pages otherwise): the next variant's peak is then read from the same baseline as in a
        # fresh process.
        gc.collect()
        trim(0)

    def reset_peak():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    def rss_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1])
        raise RuntimeError(field)

    def run_raw(samples, concat):
        loader = torch.utils.data.DataLoader(samples, batch_size=BS, collate_fn=collate)
        kept = []
        with torch.no_grad():
            for batch in loader:
                kept.append(model(**batch).logits.numpy())
        if not concat:
            return kept
        # Pad/concatenate once, now that the widest batch is known; each row's tail is padded
        # once (no -100 prefill that the logits then overwrite).
        width = max(k.shape[1] for k in kept)
        out = np.empty((sum(len(k) for k in kept), width, VOCAB), kept[0].dtype)
        row = 0
        for k in kept:
            out[row : row + len(k), : k.shape[1]] = k
            out[row : row + len(k), k.shape[1] :] = -100
            row += len(k)
        return out

    def reset_accelerate():
        # Both Trainers build an Accelerator: its process-wide state is not carried over.
        from accelerate.state import AcceleratorState, GradientState, PartialState
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()

    def framework_predict(contender, samples, accumulation, concat):
        reset_accelerate()
        mod = __import__({"ours": "trainer", "transformers": "transformers"}[contender],
                         fromlist=["Trainer", "TrainingArguments"])
        tmp = tempfile.mkdtemp()
        args = mod.TrainingArguments(
            output_dir=tmp, per_device_eval_batch_size=BS, eval_accumulation_steps=accumulation,
            eval_do_concat_batches=concat, report_to="none", disable_tqdm=True, use_cpu=True)
        trainer = mod.Trainer(model=model, args=args, data_collator=collate)
        return lambda: trainer.predict(samples).predictions

    def digest(preds):
        h = hashlib.sha256()
        for array in preds if isinstance(preds, list) else [preds]:
            h.update(f"{array.dtype}{array.shape}".encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    # Warm-up (first-call costs: lazy imports, the first allocations), not measured.
    for contender in sorted({step[0] for step in plan}):
        if contender == "raw":
            run_raw(datasets["random"][: 2 * BS], True)
        else:
            framework_predict(contender, datasets["random"][: 2 * BS], 8, True)()
    results = []
    for contender, order, accumulation, concat in plan:
        settle()
        data = datasets[order]
        if contender == "raw":
            call = lambda: run_raw(data, concat)
        else:
            call = framework_predict(contender, data, accumulation, concat)
        reset_peak(); before = rss_kb("VmRSS")
        t0, c0 = time.perf_counter(), time.process_time()
        preds = call()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = rss_kb("VmHWM")
        shape = f"{len(preds)} arrays" if isinstance(preds, list) else list(preds.shape)
        results.append({"seconds": elapsed, "cpu_seconds": cpu, "extra_mb": (peak - before) / 1024,
                        "digest": digest(preds), "shape": shape})
        del preds, call
    print(json.dumps(results))
    """
)


def run(contender: str, n: int, argmax: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, contender, str(n), "1" if argmax else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


Variant = tuple[int | None, bool]  # (eval_accumulation_steps, eval_do_concat_batches)
VARIANTS: list[Variant] = [(8, True), (None, True), (8, False), (None, False)]
ORDERS = ("random", "sorted")
# transformers with accumulation unset and concatenation on re-pads the growing result at every
# batch (quadratic: 10-20 s a run here, 7-14x ours): left out unless --all-reference-variants,
# to keep `nox -s bench` short.
SLOW_REFERENCE: Variant = (None, True)
Step = tuple[str, str, int | None, bool]  # (contender, order, accumulation, concat)


def ragged_plan(orders: list[str], slow_reference: bool) -> list[Step]:
    """One round: per order and layout the raw loop, then ours and transformers per variant.

    The raw loop has no accumulation setting: its one run per layout is the reference of both
    accumulation variants. Runs that are compared follow each other within seconds.
    """
    plan: list[Step] = []
    for order in orders:
        for concat in (True, False):
            plan.append(("raw", order, None, concat))
            for accumulation, layout in VARIANTS:
                if layout != concat:
                    continue
                plan.append(("ours", order, accumulation, concat))
                if slow_reference or (accumulation, concat) != SLOW_REFERENCE:
                    plan.append(("transformers", order, accumulation, concat))
    return plan


def run_ragged(n: int, plan: list[Step]) -> dict[Step, dict[str, object]]:
    """One process runs `plan` (after a warm-up of each contender); one result per step."""
    done = subprocess.run(
        [sys.executable, "-c", RAGGED_CHILD, str(n), json.dumps(plan)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(zip(plan, json.loads(done.stdout.strip().splitlines()[-1])))


class Mismatch(SystemExit):
    """A contender's predictions differ from the raw loop's: the run fails (exit status 1)."""


def check_identical(label: str, results: dict[str, list[dict[str, object]]]) -> None:
    """Every round of every contender against the raw loop's first round, byte for byte.

    The raw loop is deterministic, so its rounds must agree with each other too: a difference
    anywhere means the contenders did not compute the same thing, and the timings compare
    different work.
    """
    ref = results["raw"][0]["digest"]
    for name, rounds in results.items():
        for number, result in enumerate(rounds):
            if result["digest"] != ref:
                raise Mismatch(
                    f"[{label}] {name}, round {number}: predictions differ from the raw loop's "
                    f"(shape {result['shape']} vs {results['raw'][0]['shape']})"
                )


def case(name: str, n: int, argmax: bool, rounds: int) -> list[str]:
    names = ["raw", "ours", "transformers"]
    results: dict[str, list[dict[str, object]]] = {k: [] for k in names}
    for _ in range(rounds):
        for key in names:
            results[key].append(run(key, n, argmax))
        check_identical(f"eval/{name}", results)  # as soon as a round is in: fail early
    med = {k: statistics.median(float(r["seconds"]) for r in v) for k, v in results.items()}  # type: ignore[arg-type]
    mem = {k: statistics.median(float(r["extra_mb"]) for r in v) for k, v in results.items()}  # type: ignore[arg-type]
    for key in names:
        print(
            f"[eval/{name}] {key:13s} {med[key]:7.3f} s  extra peak {mem[key]:8.1f} MB  "
            f"shape {results[key][0]['shape']}  identical to raw: all {rounds} rounds"
        )
    # Speed ratios per round (processes run next to each other in time), then the median.
    speed = {
        other: statistics.median(
            float(r["seconds"]) / float(o["seconds"])  # type: ignore[arg-type]
            for o, r in zip(results["ours"], results[other])
        )
        for other in ("raw", "transformers")
    }
    return [
        f"eval {name}: ours vs transformers: {speed['transformers']:.2f}x faster",
        f"eval {name}: ours vs raw: {speed['raw']:.2f}x the speed, "
        f"{mem['ours'] / max(mem['raw'], 1e-9):.2f}x the extra memory (transformers {mem['transformers'] / max(mem['raw'], 1e-9):.2f}x)",
    ]


def _variant_name(variant: Variant) -> str:
    accumulation, concat = variant
    return (
        f"acc={accumulation if accumulation is not None else '-'} {'concat' if concat else 'list'}"
    )


def _spread(values: list[float]) -> str:
    """The median of per-round ratios, with their range when there are several."""
    values = sorted(values)
    text = f"{statistics.median(values):.2f}x"
    return text + (f" [{values[0]:.2f}-{values[-1]:.2f}]" if len(values) > 1 else "")


def ragged_cases(orders: list[str], n: int, rounds: int, slow_reference: bool) -> list[str]:
    """Ragged per-token logits in each order, every variant; one ratio line per (order, variant).

    One process per round runs every contender, interleaved (`ragged_plan`): the machine's
    speed moves within seconds here, so the time ratios are taken between runs next to each
    other, per round, and their median and range over the rounds are reported.
    """
    names = ["raw", "ours", "transformers"]
    # results[(order, variant)][contender]: one dict per round
    results: dict[tuple[str, Variant], dict[str, list[dict[str, object]]]] = {
        (order, v): {k: [] for k in names} for order in orders for v in VARIANTS
    }
    plan = ragged_plan(orders, slow_reference)
    for _ in range(rounds):
        measured = run_ragged(n, plan)
        for (order, variant), per in results.items():
            for key in names:
                step = (key, order, None, variant[1]) if key == "raw" else (key, order, *variant)
                if step in measured:
                    per[key].append(measured[step])
        for (order, variant), per in results.items():
            check_identical(f"eval/ragged-{order} {_variant_name(variant)}", per)
    lines = []
    for (order, variant), per in results.items():
        label = f"ragged-{order} {_variant_name(variant)}"
        ran = [k for k in names if per[k]]
        mem = {k: statistics.median(float(r["extra_mb"]) for r in per[k]) for k in ran}  # type: ignore[arg-type]
        med = {k: statistics.median(float(r["seconds"]) for r in per[k]) for k in ran}  # type: ignore[arg-type]
        print(
            f"[eval/{label}] "
            + ", ".join(f"{k} {med[k]:.2f} s {mem[k]:.0f} MB" for k in ran)
            + f"; identical to raw: all {rounds} rounds"
        )
        line = f"eval {label}:"
        for other in ("raw", "transformers"):
            if other not in ran:
                line += f" ours vs {other}: not run;"
                continue
            # Runs next to each other in time: the ratio is taken per round. CPU time (user +
            # system) leaves out the time other processes took the cores from this one.
            ratios = {
                clock: [
                    float(o[clock]) / float(r[clock])  # type: ignore[arg-type]
                    for o, r in zip(per["ours"], per[other])
                ]
                for clock in ("seconds", "cpu_seconds")
            }
            line += (
                f" ours vs {other}: {_spread(ratios['seconds'])} the time "
                f"(CPU time {_spread(ratios['cpu_seconds'])}), "
                f"{mem['ours'] / max(mem[other], 1e-9):.2f}x the extra memory;"
            )
        lines.append(line.rstrip(";"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--logits-samples", type=int, default=5000)
    parser.add_argument("--argmax-samples", type=int, default=20000)
    parser.add_argument("--ragged-samples", type=int, default=5000)
    parser.add_argument("--ragged-rounds", type=int, default=3)
    parser.add_argument(
        "--all-reference-variants", action="store_true",
        help="also run transformers with eval_accumulation_steps unset and concatenation on (slow)",
    )  # fmt: skip
    parser.add_argument(
        "--cases", default="full-logits,argmax,ragged-random,ragged-sorted",
        help="comma-separated cases to run",
    )  # fmt: skip
    opts = parser.parse_args(argv)
    cases = opts.cases.split(",")
    lines: list[str] = []
    if "full-logits" in cases:
        lines += case("full-logits", opts.logits_samples, False, opts.rounds)
    if "argmax" in cases:
        lines += case("argmax", opts.argmax_samples, True, opts.rounds)
    orders = [order for order in ORDERS if f"ragged-{order}" in cases]
    if orders:
        lines += ragged_cases(
            orders, opts.ragged_samples, opts.ragged_rounds, opts.all_reference_variants
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
