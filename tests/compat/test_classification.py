"""Sequence classification (tiny BERT) with DataCollatorWithPadding on variable-length rows,
compute_metrics accuracy, and the default collator a tokenizer brings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers
from compat_support import (
    accuracy,
    assert_same_logs,
    assert_same_weights,
    bert_config,
    losses_moved,
    make_tokenizer,
    run_side_by_side,
    seeded,
    sentiment_dataset,
)

pytestmark = pytest.mark.reference


def _model(tokenizer: Any) -> Any:
    return seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))


@pytest.mark.parametrize(
    "explicit_collator", [True, False], ids=["DataCollatorWithPadding", "default"]
)
def test_classifier_matches_transformers(tmp_path: Path, explicit_collator: bool) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    assert (
        len(set(map(len, dataset["input_ids"]))) > 1
    )  # rows of different lengths: padding matters

    def kwargs(model: Any) -> dict[str, Any]:
        extra = {"data_collator": transformers.DataCollatorWithPadding(tokenizer)}
        return dict(
            train_dataset=dataset, eval_dataset=dataset, processing_class=tokenizer,
            compute_metrics=accuracy, **(extra if explicit_collator else {}),
        )  # fmt: skip

    runs = run_side_by_side(
        _model(tokenizer), tmp_path, kwargs, evaluate=True,
        per_device_train_batch_size=10, per_device_eval_batch_size=3, num_train_epochs=4,
        eval_strategy="epoch", learning_rate=3e-3,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ours.label_names == ref.label_names == ["labels"]
    assert losses_moved(ref.state.log_history)
    assert any("eval_accuracy" in entry for entry in ours.state.log_history)
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_predict_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    runs = run_side_by_side(
        _model(tokenizer), tmp_path,
        lambda m: dict(train_dataset=dataset, processing_class=tokenizer, compute_metrics=accuracy),
        per_device_train_batch_size=10, per_device_eval_batch_size=4, max_steps=2,
    )  # fmt: skip
    ref = runs["reference"].predict(dataset)
    ours = runs["ours"].predict(dataset)
    import numpy as np

    np.testing.assert_allclose(ours.predictions, ref.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.label_ids, ref.label_ids)
    assert ours.metrics["test_accuracy"] == ref.metrics["test_accuracy"]
    assert ours.metrics["test_loss"] == pytest.approx(ref.metrics["test_loss"], rel=1e-5)


def test_tuple_outputs_match_transformers(tmp_path: Path) -> None:
    """`return_dict=False`: the model returns tuples `(loss, logits)` instead of a ModelOutput."""
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(
        lambda: transformers.BertForSequenceClassification(
            bert_config(len(tokenizer), return_dict=False)
        )
    )
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(
            train_dataset=dataset, eval_dataset=dataset, processing_class=tokenizer,
            compute_metrics=accuracy,
        ),
        evaluate=True, per_device_train_batch_size=10, per_device_eval_batch_size=4, max_steps=3,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert "eval_accuracy" in ours.state.log_history[-1]
