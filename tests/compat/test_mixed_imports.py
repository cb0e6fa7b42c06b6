"""A half-migrated script: our Trainer with transformers' own TrainingArguments (and its
checkpoints) gives transformers' numbers."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import transformers
from compat_support import (
    accuracy,
    assert_same_logs,
    assert_same_weights,
    bert_config,
    common_args,
    make_tokenizer,
    seeded,
    sentiment_dataset,
)
from support.accelerate_state import reset_accelerate

import trainer as ours

pytestmark = pytest.mark.reference


def test_our_trainer_with_transformers_training_arguments(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    trainers = {}
    for name, trainer_cls in (("reference", transformers.Trainer), ("ours", ours.Trainer)):
        reset_accelerate()
        args = transformers.TrainingArguments(
            **common_args(
                tmp_path / name, per_device_train_batch_size=5, num_train_epochs=2,
                eval_strategy="epoch", save_strategy="epoch",
            )
        )  # fmt: skip
        trainer = trainer_cls(
            model=copy.deepcopy(model), args=args, train_dataset=dataset, eval_dataset=dataset,
            processing_class=tokenizer, compute_metrics=accuracy,
        )  # fmt: skip
        trainer.train()
        trainers[name] = trainer
    ref, our = trainers["reference"], trainers["ours"]
    assert_same_logs(ref.state.log_history, our.state.log_history)
    assert_same_weights(ref.model, our.model)
    assert (tmp_path / "ours" / "checkpoint-4" / "trainer_state.json").is_file()
