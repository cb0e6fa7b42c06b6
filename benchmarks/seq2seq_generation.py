"""Generation-based evaluation throughput: our Seq2SeqTrainer vs transformers.Seq2SeqTrainer.

The same tiny T5 (d_model=32, 2 layers, vocab 64), trained for a few steps on the task
(reversing the source) so that what it generates depends on the input, and the same 256
examples go through `predict()` with `predict_with_generate=True` (greedy, then 2 beams), in
both trainers, rounds interleaved; the median sequences/s are reported, with one ratio line
per case (> 1 means ours is faster). Generation itself is the model's own `generate` in both:
the difference is the trainer around it.

Checked, or the run fails (exit status 1): the generated sequences are not all the same (an
untrained T5 generates one constant sequence, which any two trainers would "agree" on), and
both trainers' predictions are identical, in every round. Not a test.

    python benchmarks/seq2seq_generation.py [--rounds 5] [--examples 256] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import statistics
import tempfile
import time
from typing import Any

import numpy as np
import torch
import transformers

from trainer_args import Seq2SeqTrainingArguments
from trainer_seq2seq import Seq2SeqTrainer

VOCAB, PAD, EOS = 64, 0, 1
TRAIN_STEPS = 60  # enough for most of 256 examples to get their own output (about 3 s)


def build_model(examples: list[dict[str, torch.Tensor]], steps: int = TRAIN_STEPS) -> Any:
    """A tiny T5 after `steps` Adam steps on `examples` (batches of 32, seeded: deterministic)."""
    config = transformers.T5Config(
        vocab_size=VOCAB, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
        decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = [examples[i : i + 32] for i in range(0, len(examples), 32)]
    for step in range(steps):
        batch = batches[step % len(batches)]
        loss = model(**{k: torch.stack([e[k] for e in batch]) for k in batch[0]}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.eval()


class Mismatch(SystemExit):
    """Predictions that prove nothing or differ between the trainers: the run fails."""


def check_varied(predictions: np.ndarray) -> int:
    """The number of distinct generated sequences; fewer than two fails the run."""
    distinct = len({row.tobytes() for row in np.ascontiguousarray(predictions)})
    if distinct < 2:
        raise Mismatch(
            f"every generated sequence is the same ({predictions[0].tolist()}): comparing the "
            "trainers' predictions would prove nothing"
        )
    return distinct


def build_examples(n: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    examples = []
    for _ in range(n):
        length = int(torch.randint(3, 13, (1,), generator=generator))
        source = torch.full((12,), PAD)
        source[:length] = torch.randint(2, VOCAB, (length,), generator=generator)
        labels = torch.full((13,), -100)
        labels[:length] = source[:length].flip(0)
        labels[length] = EOS
        examples.append(
            {"input_ids": source, "attention_mask": (source != PAD).long(), "labels": labels}
        )
    return examples


def exact_match(prediction: Any) -> dict[str, float]:
    # A compute_metrics is what makes evaluate() generate (without one it is loss-only).
    preds = prediction.predictions[:, 1:14]
    labels = np.where(prediction.label_ids == -100, PAD, prediction.label_ids)[:, :13]
    return {"exact_match": float((preds == labels).all(axis=1).mean())}


def make_trainers(model: Any, out: str, num_beams: int) -> dict[str, Any]:
    common = {
        "output_dir": out,
        "per_device_eval_batch_size": 32,
        "predict_with_generate": True,
        "generation_num_beams": num_beams,
        "report_to": "none",
        "disable_tqdm": True,
    }
    ref_args = transformers.Seq2SeqTrainingArguments(use_cpu=True, **common)
    return {
        "ours": Seq2SeqTrainer(
            model=copy.deepcopy(model),
            args=Seq2SeqTrainingArguments(**common),
            compute_metrics=exact_match,
        ),
        "transformers": transformers.Seq2SeqTrainer(
            model=copy.deepcopy(model), args=ref_args, compute_metrics=exact_match
        ),
    }


def run_case(
    model: Any, examples: list[dict[str, torch.Tensor]], num_beams: int, rounds: int
) -> None:
    with tempfile.TemporaryDirectory() as out:
        trainers = make_trainers(model, out, num_beams)
        speeds: dict[str, list[float]] = {name: [] for name in trainers}
        for round_number in range(rounds + 1):  # round 0: warm-up (first-call costs), untimed
            predictions: dict[str, Any] = {}
            for name, trainer in trainers.items():
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # both print their eval logs
                    predictions[name] = trainer.predict(examples).predictions
                elapsed = time.perf_counter() - start
                if round_number:
                    speeds[name].append(len(examples) / elapsed)
            # Compared round by round, not with round 0: the first generate() call of a model
            # settles its generation config (transformers then pads to max_length 20, not
            # 21), so the first call's width differs from the later ones, in both trainers.
            distinct = check_varied(predictions["transformers"])
            ours, ref = predictions["ours"], predictions["transformers"]
            if ours.shape != ref.shape or not np.array_equal(ours, ref):
                raise Mismatch(
                    f"num_beams={num_beams}, round {round_number}: ours' predictions differ "
                    f"from transformers' (shapes {ours.shape} and {ref.shape})"
                )
    ours, ref = statistics.median(speeds["ours"]), statistics.median(speeds["transformers"])
    print(
        f"num_beams={num_beams}: {distinct} distinct sequences of {len(examples)}; ours "
        f"identical to transformers in all {rounds + 1} rounds"
    )
    print(
        f"num_beams={num_beams}: ours {ours:.1f} seq/s, transformers {ref:.1f} seq/s, "
        f"ratio ours/transformers = {ours / ref:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--train-steps", type=int, default=TRAIN_STEPS,
        help="steps on the task before generating (0: the untrained model, whose outputs are "
        "all the same, which fails the run)",
    )  # fmt: skip
    options = parser.parse_args()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    logging.disable(logging.WARNING)
    transformers.logging.set_verbosity_error()
    examples = build_examples(options.examples)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, CPU threads {torch.get_num_threads()}"
    )
    model = build_model(examples, options.train_steps)
    for num_beams in (1, 2):
        run_case(model, examples, num_beams, options.rounds)


if __name__ == "__main__":
    main()
