"""Checkpoints of a transformers model (save_pretrained weights + tokenizer): resuming gives
the uninterrupted run's weights bit for bit, and each checkpoint loads with AutoModel*."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from compat_support import (
    bert_config,
    common_args,
    make_tokenizer,
    seeded,
    sentiment_dataset,
)
from support.accelerate_state import reset_accelerate

import trainer as ours

pytestmark = pytest.mark.reference


def _run(model: Any, tokenizer: Any, out: Path, resume: str | None = None) -> Any:
    reset_accelerate()
    args = ours.TrainingArguments(
        **common_args(
            out, per_device_train_batch_size=3, max_steps=8, save_strategy="steps", save_steps=4
        )
    )
    trainer = ours.Trainer(
        model=copy.deepcopy(model), args=args, train_dataset=sentiment_dataset(tokenizer),
        data_collator=transformers.DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
    )  # fmt: skip
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def test_resume_and_load_checkpoints(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    model = seeded(
        lambda: transformers.BertForSequenceClassification(
            bert_config(len(tokenizer), hidden_dropout_prob=0.1)
        )
    )
    full = _run(model, tokenizer, tmp_path / "full")
    resumed = _run(
        model, tokenizer, tmp_path / "full", resume=str(tmp_path / "full" / "checkpoint-4")
    )
    for (key, value), other in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values()
    ):
        assert torch.equal(value, other), key

    checkpoint = tmp_path / "full" / "checkpoint-8"
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint)
    for key, value in full.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert transformers.AutoTokenizer.from_pretrained(checkpoint).pad_token == "[PAD]"


def test_resume_from_a_transformers_checkpoint_is_refused_without_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers' checkpoints hold pickles (optimizer.pt, rng_state.pth, training_args.bin):
    resuming from one fails clearly, and nothing is unpickled on the way."""
    import pickle

    from trainer_loop.checkpoints import CheckpointFormatError

    tokenizer = make_tokenizer()
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    reference_args = transformers.TrainingArguments(
        **common_args(
            tmp_path,
            per_device_train_batch_size=5,
            max_steps=2,
            save_strategy="steps",
            save_steps=2,
        )
    )
    transformers.Trainer(
        model=copy.deepcopy(model), args=reference_args, train_dataset=sentiment_dataset(tokenizer),
        processing_class=tokenizer,
    ).train()  # fmt: skip
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").is_file()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a pickle was opened")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    reset_accelerate()
    with pytest.raises(CheckpointFormatError, match="pickle") as info:
        _run(model, tokenizer, tmp_path, resume=str(tmp_path / "checkpoint-2"))
    assert "optimizer.pt" in str(info.value)
