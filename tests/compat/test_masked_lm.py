"""Masked LM with DataCollatorForLanguageModeling(mlm=True): the collator draws its masks from
torch's global RNG, so equal numbers mean both trainers consume randomness identically
(seeding, shuffled sampler, dropout)."""

from __future__ import annotations

from pathlib import Path

import pytest
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


def test_masked_lm_with_random_masks_dropout_and_shuffling_matches_transformers(
    tmp_path: Path,
) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(
        lambda: transformers.BertForMaskedLM(bert_config(len(tokenizer), hidden_dropout_prob=0.1))
    )
    collator = transformers.DataCollatorForLanguageModeling(
        tokenizer, mlm=True, mlm_probability=0.3
    )
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(train_dataset=dataset, eval_dataset=dataset, data_collator=collator),
        evaluate=True, per_device_train_batch_size=3, num_train_epochs=2,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ours.label_names == ref.label_names == ["labels"]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_group_by_length_sampler_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(train_dataset=dataset, data_collator=transformers.DataCollatorWithPadding(tokenizer)),
        per_device_train_batch_size=2, num_train_epochs=2, train_sampling_strategy="group_by_length",
    )  # fmt: skip
    assert_same_logs(runs["reference"].state.log_history, runs["ours"].state.log_history)
