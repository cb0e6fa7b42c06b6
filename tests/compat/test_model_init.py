"""`model_init`: called at construction and again at each train() (re-seeded first), taking 0
or 1 argument, with the same numbers as transformers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import transformers
from compat_support import (
    assert_same_logs,
    assert_same_weights,
    bert_config,
    common_args,
    make_tokenizer,
    sentiment_dataset,
)
from support.accelerate_state import reset_accelerate

import trainer as ours

pytestmark = pytest.mark.reference


def _recording_inits(config: Any, seen: list[Any]) -> tuple[Any, Any]:
    """A one-argument and a no-argument model_init that record their calls in `seen`."""

    def with_trial(trial: Any) -> Any:
        seen.append(trial)
        return transformers.BertForSequenceClassification(config)

    def without_trial() -> Any:
        seen.append("called")
        return transformers.BertForSequenceClassification(config)

    return with_trial, without_trial


@pytest.mark.parametrize("takes_trial", [False, True], ids=["no-arg", "trial-arg"])
def test_model_init_matches_transformers(tmp_path: Path, takes_trial: bool) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    config = bert_config(len(tokenizer), hidden_dropout_prob=0.1)  # dropout: the seeds must agree
    trainers: dict[str, Any] = {}
    calls: dict[str, list[Any]] = {}
    for name, module in (("reference", transformers), ("ours", ours)):
        with_trial, without_trial = _recording_inits(config, calls.setdefault(name, []))
        reset_accelerate()
        args = module.TrainingArguments(
            **common_args(tmp_path / name, per_device_train_batch_size=4, num_train_epochs=1)
        )
        trainer = module.Trainer(
            model_init=with_trial if takes_trial else without_trial, args=args,
            train_dataset=dataset, data_collator=transformers.DataCollatorWithPadding(tokenizer),
        )  # fmt: skip
        trainer.train()
        trainer.train()
        trainers[name] = trainer
    ref, our = trainers["reference"], trainers["ours"]
    assert calls["ours"] == calls["reference"]
    assert len(calls["ours"]) == 3  # construction + two train() calls
    assert_same_logs(ref.state.log_history, our.state.log_history)
    assert_same_weights(ref.model, our.model)
