"""A QA-shaped model (BertForQuestionAnswering): label names come from its forward
(start_positions/end_positions) and the eval loss and predictions equal transformers'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
)

pytestmark = pytest.mark.reference


def _qa_dataset(vocab_size: int) -> Any:
    import datasets

    generator = torch.Generator().manual_seed(0)
    rows = []
    for i in range(6):
        ids = torch.randint(5, vocab_size, (10,), generator=generator).tolist()
        start = int(torch.randint(1, 8, (1,), generator=generator))
        rows.append(
            {"input_ids": ids, "attention_mask": [1] * 10, "start_positions": start,
             "end_positions": start + 1, "question_id": f"q{i}"}
        )  # fmt: skip
    return datasets.Dataset.from_list(rows)


def test_question_answering_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = _qa_dataset(len(tokenizer))
    model = seeded(lambda: transformers.BertForQuestionAnswering(bert_config(len(tokenizer))))
    runs = run_side_by_side(
        model, tmp_path, lambda m: dict(train_dataset=dataset, eval_dataset=dataset), evaluate=True,
        per_device_train_batch_size=6, per_device_eval_batch_size=4, num_train_epochs=2,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ref.label_names == ["start_positions", "end_positions"]
    assert ours.label_names == ref.label_names
    assert "eval_loss" in ours.state.log_history[-1]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)

    ref_pred, our_pred = ref.predict(dataset), ours.predict(dataset)
    assert isinstance(our_pred.predictions, tuple) and len(our_pred.predictions) == 2
    for ref_part, our_part in zip(ref_pred.predictions, our_pred.predictions):
        np.testing.assert_allclose(our_part, ref_part, rtol=1e-5, atol=1e-6)
    for ref_part, our_part in zip(ref_pred.label_ids, our_pred.label_ids):
        np.testing.assert_array_equal(our_part, ref_part)
