"""Shared pieces of the seq2seq compatibility tests: a tiny trained T5 and a reversal task.

The T5 is trained for a few steps on reversing token strings, so that it generates varied
tokens, eos at different positions and beams that disagree: a random T5 only repeats one token.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from support.torch_threads import one_torch_thread, one_torch_thread_fixture

transformers = pytest.importorskip("transformers")

VOCAB, PAD, EOS = 24, 0, 1
SOURCE_LEN = 6


__all__ = ["one_torch_thread_fixture"]  # autouse: every test of this folder


def reversal_examples(n: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """`n` examples: a padded source of 2..6 tokens, labels = reversed source + eos (-100 after)."""
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(n):
        length = int(torch.randint(2, SOURCE_LEN + 1, (1,), generator=generator))
        tokens = torch.randint(2, VOCAB, (length,), generator=generator)
        input_ids = torch.full((SOURCE_LEN,), PAD)
        input_ids[:length] = tokens
        labels = torch.full((SOURCE_LEN + 1,), -100)
        labels[:length] = tokens.flip(0)
        labels[length] = EOS
        examples.append(
            {"input_ids": input_ids, "attention_mask": (input_ids != PAD).long(), "labels": labels}
        )
    return examples


def _train_t5() -> torch.nn.Module:
    config = transformers.T5Config(
        vocab_size=VOCAB, d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
        decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(40):
        batch = torch.utils.data.default_collate(reversal_examples(32, seed=1000 + step))
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def _trained_t5() -> torch.nn.Module:
    with one_torch_thread():  # session fixtures run before the function-scoped thread setting
        return _train_t5()


@pytest.fixture
def make_t5(_trained_t5: torch.nn.Module) -> Callable[[], Any]:
    """Fresh copies of the same trained weights (trainers change `generation_config`)."""
    return lambda: copy.deepcopy(_trained_t5)


@pytest.fixture
def examples() -> list[dict[str, torch.Tensor]]:
    """10 reversal examples: with eval batches of 4, the last batch is short."""
    return reversal_examples(10, seed=7)
