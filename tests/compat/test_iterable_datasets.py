"""Streaming data: a `datasets.IterableDataset` and a torch IterableDataset with `max_steps`
train exactly as with transformers (epochs continue past the end of the stream)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from compat_support import (
    assert_same_logs,
    assert_same_weights,
    bert_config,
    make_tokenizer,
    run_side_by_side,
    seeded,
    sentiment_dataset,
)

pytestmark = pytest.mark.reference


class TorchStream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Yields the rows of a datasets.Dataset, extra columns included."""

    def __init__(self, rows: Any) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.rows


@pytest.mark.parametrize("kind", ["datasets", "torch"])
def test_iterable_dataset_with_max_steps_matches_transformers(tmp_path: Path, kind: str) -> None:
    tokenizer = make_tokenizer()
    rows = sentiment_dataset(tokenizer)
    stream = rows.to_iterable_dataset() if kind == "datasets" else TorchStream(rows)
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(train_dataset=stream, data_collator=transformers.DataCollatorWithPadding(tokenizer)),
        per_device_train_batch_size=4, max_steps=7,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ours.state.global_step == 7
    assert ours.state.epoch == ref.state.epoch and ref.state.epoch > 2  # went round the stream
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)
