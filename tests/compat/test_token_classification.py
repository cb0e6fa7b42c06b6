"""Token classification with DataCollatorForTokenClassification: eval batches of different
widths are padded into one array (-100) exactly as transformers does; metrics ignore -100."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import transformers
from compat_support import (
    SENTIMENT,
    assert_same_logs,
    assert_same_weights,
    bert_config,
    make_tokenizer,
    run_side_by_side,
    seeded,
)

pytestmark = pytest.mark.reference
POSITIVE_WORDS = {"great", "good", "fun", "loved"}


def _dataset(tokenizer: Any) -> Any:
    import datasets

    def tag(batch: dict[str, list[str]]) -> Any:
        encoded = tokenizer(batch["text"])
        encoded["labels"] = [
            [-100, *(int(word in POSITIVE_WORDS) for word in text.split()), -100]
            for text in batch["text"]
        ]
        return encoded

    return datasets.Dataset.from_dict({"text": [text for text, _ in SENTIMENT]}).map(
        tag, batched=True
    )


def _token_accuracy(prediction: Any) -> dict[str, float]:
    predicted = np.argmax(prediction.predictions, axis=-1)
    kept = prediction.label_ids != -100
    return {"token_accuracy": float((predicted[kept] == prediction.label_ids[kept]).mean())}


def test_token_classification_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = _dataset(tokenizer)
    model = seeded(lambda: transformers.BertForTokenClassification(bert_config(len(tokenizer))))
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(
            train_dataset=dataset, eval_dataset=dataset, compute_metrics=_token_accuracy,
            data_collator=transformers.DataCollatorForTokenClassification(tokenizer),
        ),
        evaluate=True, per_device_train_batch_size=10, per_device_eval_batch_size=3,
        num_train_epochs=3, eval_strategy="epoch",
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)
    ref_pred, our_pred = ref.predict(dataset), ours.predict(dataset)
    assert our_pred.predictions.shape == ref_pred.predictions.shape
    np.testing.assert_allclose(our_pred.predictions, ref_pred.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(our_pred.label_ids, ref_pred.label_ids)
