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


def test_evaluate_and_predict_on_a_stream_match_transformers(tmp_path: Path) -> None:
    from compat_support import accuracy, common_args, without_speed
    from support.accelerate_state import reset_accelerate

    import trainer as ours

    tokenizer = make_tokenizer()
    rows = sentiment_dataset(tokenizer)
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    results = {}
    for module in (transformers, ours):
        reset_accelerate()
        args = module.TrainingArguments(**common_args(tmp_path, per_device_eval_batch_size=3))
        trainer = module.Trainer(
            model=model, args=args, compute_metrics=accuracy,
            data_collator=transformers.DataCollatorWithPadding(tokenizer),
        )  # fmt: skip
        metrics = without_speed(trainer.evaluate(rows.to_iterable_dataset()))
        predicted = trainer.predict(rows.to_iterable_dataset())
        results[module.__name__] = (
            metrics,
            predicted.predictions,
            without_speed(predicted.metrics),
        )
    (ref_metrics, ref_pred, ref_test), (metrics, pred, test) = (
        results["transformers"],
        results["trainer"],
    )
    assert metrics == pytest.approx(ref_metrics, rel=1e-5)
    assert test == pytest.approx(ref_test, rel=1e-5)
    assert pred.shape == ref_pred.shape == (10, 2)
    torch.testing.assert_close(
        torch.as_tensor(pred), torch.as_tensor(ref_pred), rtol=1e-5, atol=1e-6
    )
