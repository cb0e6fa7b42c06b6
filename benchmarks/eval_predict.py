"""Evaluation: `predict()` over samples with variable-length outputs.

A small GPT-shaped LM returns per-token logits for samples of 8 to 64 tokens
(`eval_accumulation_steps=8`). Contenders, each in a fresh process, rounds
interleaved, median reported:
- raw: a no-grad loop writing into a preallocated, -100-filled array;
- ours: `trainer.Trainer.predict`;
- transformers: `transformers.Trainer.predict`.
Two cases: the full logits, and an argmax `preprocess_logits_for_metrics`.
Every contender's predictions are checked equal (bitwise) to the raw loop's.
Memory: the peak RSS of the process during predict() above its RSS just
before (the "extra" memory), from /proc's VmHWM after resetting it.
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


def run(contender: str, n: int, argmax: bool) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, contender, str(n), "1" if argmax else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def case(name: str, n: int, argmax: bool, rounds: int) -> list[str]:
    names = ["raw", "ours", "transformers"]
    results: dict[str, list[dict[str, object]]] = {k: [] for k in names}
    for _ in range(rounds):
        for key in names:
            results[key].append(run(key, n, argmax))
    med = {k: statistics.median(float(r["seconds"]) for r in v) for k, v in results.items()}  # type: ignore[arg-type]
    mem = {k: statistics.median(float(r["extra_mb"]) for r in v) for k, v in results.items()}  # type: ignore[arg-type]
    for key in names:
        first = results[key][0]
        same = first["digest"] == results["raw"][0]["digest"]
        print(
            f"[eval/{name}] {key:13s} {med[key]:7.3f} s  extra peak {mem[key]:8.1f} MB  "
            f"shape {first['shape']}  identical to raw: {same}"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--logits-samples", type=int, default=5000)
    parser.add_argument("--argmax-samples", type=int, default=20000)
    opts = parser.parse_args(argv)
    lines = case("full-logits", opts.logits_samples, False, opts.rounds)
    lines += case("argmax", opts.argmax_samples, True, opts.rounds)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
