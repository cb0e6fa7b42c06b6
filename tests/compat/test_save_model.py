"""`save_model()` writes a folder that transformers' Auto classes load back with equal weights,
with the tokenizer beside the model; PEFT models save through their own save_pretrained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from compat_support import (
    assert_same_weights,
    bert_config,
    common_args,
    gpt2_config,
    make_tokenizer,
    seeded,
    sentiment_dataset,
    text_dataset,
)

import trainer as ours

pytestmark = pytest.mark.reference


def _train_and_save(model: Any, tokenizer: Any, dataset: Any, collator: Any, out: Path) -> Any:
    args = ours.TrainingArguments(**common_args(out, per_device_train_batch_size=5, max_steps=2))
    trainer = ours.Trainer(
        model=model, args=args, train_dataset=dataset, data_collator=collator,
        processing_class=tokenizer,
    )  # fmt: skip
    trainer.train()
    trainer.save_model()
    return trainer


def _assert_tokenizer_beside(tokenizer: Any, folder: Path) -> None:
    assert (folder / "tokenizer.json").is_file()
    loaded = transformers.AutoTokenizer.from_pretrained(folder)
    text = "the movie was really great"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.pad_token == tokenizer.pad_token


def test_sequence_classifier_round_trip(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _train_and_save(
        model, tokenizer, sentiment_dataset(tokenizer),
        transformers.DataCollatorWithPadding(tokenizer), tmp_path,
    )  # fmt: skip
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    loaded = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(loaded) is transformers.BertForSequenceClassification
    assert_same_weights(trainer.model, loaded, rtol=0)
    _assert_tokenizer_beside(tokenizer, tmp_path)


def test_causal_lm_round_trip_with_tied_weights(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    model = seeded(lambda: transformers.GPT2LMHeadModel(gpt2_config(len(tokenizer))))
    trainer = _train_and_save(
        model, tokenizer, text_dataset(tokenizer),
        transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False), tmp_path,
    )  # fmt: skip
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    assert_same_weights(trainer.model, loaded, rtol=0)
    assert loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr()
    _assert_tokenizer_beside(tokenizer, tmp_path)


@pytest.mark.parametrize("tokenizer_from", ["processing_class", "data_collator"])
def test_save_model_to_another_folder_matches_transformers_files(
    tmp_path: Path, tokenizer_from: str
) -> None:
    tokenizer = make_tokenizer()
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    if tokenizer_from == "processing_class":
        kwargs: dict[str, Any] = {"processing_class": tokenizer}
    else:  # transformers then saves the collator's tokenizer
        kwargs = {"data_collator": transformers.DataCollatorWithPadding(tokenizer)}
    names: dict[str, set[str]] = {}
    for name, module in (("reference", transformers), ("ours", ours)):
        args = module.TrainingArguments(**common_args(tmp_path / f"run-{name}"))
        trainer = module.Trainer(model=model, args=args, **kwargs)
        trainer.save_model(str(tmp_path / name))
        names[name] = {p.name for p in (tmp_path / name).iterdir()}
    assert "tokenizer.json" in names["reference"]
    # transformers pickles its arguments into training_args.bin; we write JSON instead.
    assert names["ours"] - {"training_args.json"} == names["reference"] - {"training_args.bin"}


def test_peft_model_saved_through_its_save_pretrained(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    tokenizer = make_tokenizer()
    base = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    config = peft.LoraConfig(r=2, target_modules=["query", "value"], task_type="SEQ_CLS")
    model = peft.get_peft_model(base, config)
    trainer = _train_and_save(
        model, tokenizer, sentiment_dataset(tokenizer),
        transformers.DataCollatorWithPadding(tokenizer), tmp_path,
    )  # fmt: skip
    assert (tmp_path / "adapter_config.json").is_file()
    assert (tmp_path / "adapter_model.safetensors").is_file()
    reloaded = peft.PeftModel.from_pretrained(
        seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer)))),
        tmp_path,
    )
    adapters = {k: v for k, v in trainer.model.state_dict().items() if "lora_" in k}
    reloaded_state = reloaded.state_dict()
    assert adapters and all(torch.equal(v, reloaded_state[k]) for k, v in adapters.items())
