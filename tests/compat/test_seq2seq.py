"""A T5-shaped model with DataCollatorForSeq2Seq through `trainer.Seq2SeqTrainer`: the same
training losses and teacher-forced eval losses as `transformers.Seq2SeqTrainer`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers
from compat_support import (
    assert_same_logs,
    assert_same_weights,
    losses_moved,
    make_tokenizer,
    run_side_by_side,
    seeded,
    t5_config,
)

pytestmark = pytest.mark.reference

PAIRS = [
    ("the movie was great", "good"),
    ("a film is bad", "bad"),
    ("the plot was really boring", "bad"),
    ("loved it", "good"),
    ("hated it but the music was fun", "bad but fun"),
    ("very very good", "very good"),
]


def _dataset(tokenizer: Any) -> Any:
    import datasets

    def tokenize(batch: dict[str, list[str]]) -> Any:
        encoded = tokenizer(batch["source"])
        encoded["labels"] = tokenizer(text_target=batch["target"])["input_ids"]
        return encoded

    sources, targets = zip(*PAIRS)
    raw = datasets.Dataset.from_dict({"source": list(sources), "target": list(targets)})
    return raw.map(tokenize, batched=True)


def test_seq2seq_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = _dataset(tokenizer)
    model = seeded(lambda: transformers.T5ForConditionalGeneration(t5_config(len(tokenizer))))

    def kwargs(m: Any) -> dict[str, Any]:
        collator = transformers.DataCollatorForSeq2Seq(tokenizer, model=m)
        return dict(
            train_dataset=dataset, eval_dataset=dataset, data_collator=collator,
            processing_class=tokenizer,
        )  # fmt: skip

    runs = run_side_by_side(
        model, tmp_path, kwargs, seq2seq=True, evaluate=True,
        per_device_train_batch_size=6, per_device_eval_batch_size=4, num_train_epochs=3,
        eval_strategy="epoch",
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert type(ours).__module__.startswith("trainer_seq2seq")
    assert losses_moved(ref.state.log_history)
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_generated_predictions_and_decoded_metrics_match_transformers(tmp_path: Path) -> None:
    """The summarization tutorial's evaluation: predict_with_generate, then compute_metrics
    decodes predictions and labels (-100 replaced by the pad id) with the tokenizer."""
    import numpy as np

    tokenizer = make_tokenizer()
    dataset = _dataset(tokenizer)
    model = seeded(lambda: transformers.T5ForConditionalGeneration(t5_config(len(tokenizer))))
    decoded: dict[int, list[str]] = {}

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        predictions, labels = eval_pred
        labels = np.where(labels != -100, labels, tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        references = tokenizer.batch_decode(labels, skip_special_tokens=True)
        decoded[len(decoded)] = texts
        exact = [float(p == r) for p, r in zip(texts, references)]
        lengths = [np.count_nonzero(p != tokenizer.pad_token_id) for p in predictions]
        return {"exact_match": float(np.mean(exact)), "gen_len": float(np.mean(lengths))}

    def kwargs(m: Any) -> dict[str, Any]:
        return dict(
            train_dataset=dataset, eval_dataset=dataset, processing_class=tokenizer,
            data_collator=transformers.DataCollatorForSeq2Seq(tokenizer, model=m),
            compute_metrics=compute_metrics,
        )  # fmt: skip

    runs = run_side_by_side(
        model, tmp_path, kwargs, seq2seq=True, evaluate=True,
        per_device_train_batch_size=6, per_device_eval_batch_size=4, num_train_epochs=4,
        learning_rate=3e-2, predict_with_generate=True, generation_max_length=6,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert "eval_gen_len" in ours.state.log_history[-1]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert decoded[0] == decoded[1]  # reference's texts, then ours
    assert all(decoded[0])  # it generates words, not just eos
    ref_pred, our_pred = ref.predict(dataset), ours.predict(dataset)
    np.testing.assert_array_equal(our_pred.predictions, ref_pred.predictions)
