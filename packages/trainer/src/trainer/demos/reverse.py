"""Data for the `seq2seq` demo: learn to reverse short random strings of letters.

Token ids: 0 = padding, 1 = decoder start, 2 = end of sequence, then one id per letter.
Chance of guessing a whole reversed string of 4-10 letters out of 10 is 1 in 10,000, so
exact match well above zero means the model learned the transduction.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from trainer.jobs import Datasets

__all__ = [
    "EOS_ID",
    "PAD_ID",
    "START_ID",
    "ReversedStrings",
    "exact_match",
    "reverse_collator",
    "reverse_data",
    "reverse_metrics",
    "reverse_model",
    "reverse_samples",
]

PAD_ID, START_ID, EOS_ID = 0, 1, 2
LETTERS = "abcdefghij"
VOCAB_SIZE = 3 + len(LETTERS)


def encode(text: str) -> list[int]:
    return [3 + LETTERS.index(char) for char in text] + [EOS_ID]


def decode(ids: Any) -> str:
    """Letters up to the first end-of-sequence; padding and start tokens are skipped."""
    letters = []
    for index in (int(i) for i in ids):
        if index == EOS_ID:
            break
        if index >= 3:
            letters.append(LETTERS[index - 3])
    return "".join(letters)


class ReversedStrings(Dataset[dict[str, list[int]]]):
    """`size` random strings (seeded) and their reverses, as id lists."""

    def __init__(self, size: int, seed: int, min_len: int = 4, max_len: int = 10) -> None:
        rng = random.Random(seed)
        self.texts = [
            "".join(rng.choice(LETTERS) for _ in range(rng.randint(min_len, max_len)))
            for _ in range(size)
        ]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        text = self.texts[index]
        return {"input_ids": encode(text), "labels": encode(text[::-1])}


def reverse_data(train_size: int = 8000, eval_size: int = 200) -> Datasets:
    """Disjoint seeds for the splits, so evaluation strings are (mostly) unseen."""
    return Datasets(
        train=ReversedStrings(train_size, seed=0), eval=ReversedStrings(eval_size, seed=1)
    )


def reverse_model(
    d_model: int = 64, num_heads: int = 4, num_layers: int = 2, dim_feedforward: int = 128
) -> Any:
    """The demos' tiny encoder-decoder (`tiny_seq2seq`), sized and tokenised for this task."""
    from trainer.demos.tiny_seq2seq import TinySeq2Seq, TinySeq2SeqConfig

    config = TinySeq2SeqConfig(
        vocab_size=VOCAB_SIZE,
        d_model=d_model,
        num_heads=num_heads,
        num_encoder_layers=num_layers,
        num_decoder_layers=num_layers,
        dim_feedforward=dim_feedforward,
        max_position_embeddings=16,
        pad_token_id=PAD_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=START_ID,
    )
    return TinySeq2Seq(config)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def reverse_collator() -> Any:
    """Pad inputs with 0 (and build the attention mask), labels with -100 (ignored by the loss)."""

    def collate(features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        input_ids = _pad([item["input_ids"] for item in features], PAD_ID)
        return {
            "input_ids": input_ids,
            "attention_mask": (input_ids != PAD_ID).long(),
            "labels": _pad([item["labels"] for item in features], -100),
        }

    return collate


def exact_match(predictions: Any, labels: Any) -> float:
    """Share of rows whose generated string equals the target string."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    hits = [decode(p) == decode(lab[lab != -100]) for p, lab in zip(predictions, labels)]
    return float(np.mean(hits)) if hits else 0.0


def reverse_metrics() -> Any:
    """compute_metrics for generated predictions: exact match of the decoded strings."""

    def compute_metrics(prediction: Any) -> dict[str, float]:
        predictions = prediction.predictions
        if isinstance(predictions, tuple):  # (generated ids, ...) from some models
            predictions = predictions[0]
        return {"exact_match": exact_match(predictions, prediction.label_ids)}

    return compute_metrics


def reverse_samples(model: Any, texts: list[str]) -> list[tuple[str, str]]:
    """(input, generated output) pairs from a trained model, greedy decoding."""
    device = next(model.parameters()).device
    batch = reverse_collator()([{"input_ids": encode(t), "labels": encode(t)} for t in texts])
    was_training = model.training
    model.eval()
    try:
        generated = model.generate(
            batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            max_length=12,
        )
    finally:
        model.train(was_training)
    return [(text, decode(row[1:])) for text, row in zip(texts, generated.tolist())]
