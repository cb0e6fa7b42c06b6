"""Data for the `lm` demo: the bundled corpus as windows of character ids.

The corpus (`corpus.txt`) is original prose written for this project. Its last tenth is
held out for evaluation, so the eval loss measures what the model learned about the
language, not the sentences it memorised.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import torch
from torch.utils.data import Dataset

from trainer.demos.models import CharGPT, CharGPTConfig
from trainer.jobs import Datasets

__all__ = [
    "CharVocab",
    "CharWindows",
    "lm_collator",
    "lm_data",
    "lm_model",
    "lm_sample",
    "load_corpus",
]


def load_corpus() -> str:
    """The bundled demo corpus (about 20 KB of English prose)."""
    return resources.files("trainer.demos").joinpath("corpus.txt").read_text(encoding="utf-8")


class CharVocab:
    """Characters <-> ids; id order is sorted character order, so it is reproducible."""

    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.ids = {char: index for index, char in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.ids[char] for char in text]

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(index)] for index in ids)


class CharWindows(Dataset[dict[str, torch.Tensor]]):
    """Overlapping windows of `block_size` ids; labels are the inputs (the model shifts)."""

    def __init__(self, ids: torch.Tensor, block_size: int, stride: int) -> None:
        if len(ids) < block_size:
            raise ValueError(
                f"text of {len(ids)} characters is shorter than a block ({block_size})"
            )
        self.ids = ids
        self.block_size = block_size
        self.starts = range(0, len(ids) - block_size + 1, stride)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = self.starts[index]
        window = self.ids[start : start + self.block_size]
        return {"input_ids": window, "labels": window.clone()}


def lm_data(block_size: int = 64, stride: int = 16, eval_fraction: float = 0.1) -> Datasets:
    """Train windows from the first 90% of the corpus, eval windows from the rest."""
    text = load_corpus()
    ids = torch.tensor(CharVocab(text).encode(text), dtype=torch.long)
    split = int(len(ids) * (1 - eval_fraction))
    return Datasets(
        train=CharWindows(ids[:split], block_size, stride),
        eval=CharWindows(ids[split:], block_size, block_size),
    )


def lm_model(
    block_size: int = 64, n_embd: int = 96, n_layer: int = 2, n_head: int = 4, dropout: float = 0.0
) -> CharGPT:
    """A `CharGPT` sized for the corpus' alphabet."""
    vocab_size = len(CharVocab(load_corpus()))
    config = CharGPTConfig(vocab_size, block_size, n_embd, n_layer, n_head, dropout)
    return CharGPT(config)


def lm_collator() -> Any:
    """Stack equal-length windows into a batch."""

    def collate(features: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {key: torch.stack([item[key] for item in features]) for key in features[0]}

    return collate


def lm_sample(
    model: CharGPT, prompt: str = "The ", length: int = 200, temperature: float = 0.6
) -> str:
    """A sampled continuation of `prompt` (prompt included); seeded, so it is reproducible."""
    vocab = CharVocab(load_corpus())
    device = next(model.parameters()).device
    ids = torch.tensor([vocab.encode(prompt)], dtype=torch.long, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(ids, length, temperature=temperature, generator=generator)
        return vocab.decode(out[0].tolist())
    finally:
        model.train(was_training)
