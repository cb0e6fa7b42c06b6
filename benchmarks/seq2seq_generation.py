"""Generation-based evaluation throughput: our Seq2SeqTrainer vs transformers.Seq2SeqTrainer.

The same tiny T5 (d_model=32, 2 layers, vocab 64) and the same 256 examples go through
`evaluate()` with `predict_with_generate=True` (greedy, then 2 beams), in both trainers,
rounds interleaved; the median sequences/s are reported, with one ratio line per case
(> 1 means ours is faster). Generation itself is the model's own `generate` in both: the
difference is the trainer around it. Predictions are checked equal. Not a test.

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


def build_model() -> Any:
    config = transformers.T5Config(
        vocab_size=VOCAB, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
        decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.T5ForConditionalGeneration(config).eval()


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


def run_case(examples: list[dict[str, torch.Tensor]], num_beams: int, rounds: int) -> None:
    model = build_model()
    with tempfile.TemporaryDirectory() as out:
        trainers = make_trainers(model, out, num_beams)
        speeds: dict[str, list[float]] = {name: [] for name in trainers}
        predictions: dict[str, Any] = {}
        for name, trainer in trainers.items():  # warm-up (first-call costs), also the check
            with contextlib.redirect_stdout(io.StringIO()):
                predictions[name] = trainer.predict(examples).predictions
        np.testing.assert_array_equal(predictions["ours"], predictions["transformers"])
        for _ in range(rounds):
            for name, trainer in trainers.items():
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):  # both print their eval logs
                    trainer.evaluate(examples)
                speeds[name].append(len(examples) / (time.perf_counter() - start))
    ours, ref = statistics.median(speeds["ours"]), statistics.median(speeds["transformers"])
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
    options = parser.parse_args()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    logging.disable(logging.WARNING)
    transformers.logging.set_verbosity_error()
    examples = build_examples(options.examples)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, CPU threads {torch.get_num_threads()}"
    )
    for num_beams in (1, 2):
        run_case(examples, num_beams, options.rounds)


if __name__ == "__main__":
    main()
