"""Seq2SeqTrainer with plain-torch models: metrics on generated text, errors, config handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from trainer.demos.tiny_seq2seq import TinySeq2Seq, TinySeq2SeqConfig
from trainer_args import Seq2SeqTrainingArguments
from trainer_loop.outputs import ModelOutput
from trainer_seq2seq import GenerationConfig, Seq2SeqTrainer

PAD, EOS = 0, 1
LETTERS = {i: chr(ord("a") + i - 2) for i in range(2, 12)}  # ids 2..11 are the letters a..j


def decode(ids: np.ndarray) -> str:
    """What a tokenizer's batch_decode(skip_special_tokens=True) does, for this toy vocabulary."""
    return "".join(LETTERS[i] for i in ids.tolist() if i in LETTERS)


class Reverser(nn.Module):
    """A "model" that generates the reversed source exactly: metrics have a known answer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.config = TinySeq2SeqConfig(vocab_size=12)
        self.generation_config = GenerationConfig(max_length=10, pad_token_id=PAD, eos_token_id=EOS)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
    ) -> ModelOutput:
        logits = self.scale * torch.zeros((*labels.shape, 12))
        loss = nn.functional.cross_entropy(
            logits.flatten(0, 1), labels.flatten(), ignore_index=-100
        )
        return ModelOutput(loss=loss, logits=logits)

    def generate(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        rows = []
        for ids, mask in zip(input_ids, attention_mask):
            tokens = ids[mask.bool()].flip(0).tolist()
            rows.append([PAD, *tokens, EOS])
        width = max(map(len, rows))
        return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


def examples(words: list[str]) -> list[dict[str, torch.Tensor]]:
    ids = {letter: i for i, letter in LETTERS.items()}
    out = []
    for word in words:
        source = torch.tensor([ids[c] for c in word] + [PAD] * (5 - len(word)))
        labels = torch.tensor([ids[c] for c in reversed(word)] + [EOS] + [-100] * (5 - len(word)))
        out.append(
            {"input_ids": source, "attention_mask": (source != PAD).long(), "labels": labels}
        )
    return out


WORDS = ["abc", "hij", "ca", "jjab", "bead", "fig", "d"]


def _args(tmp_path: Path, **kwargs: Any) -> Seq2SeqTrainingArguments:
    return Seq2SeqTrainingArguments(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=3,
        report_to="none",
        disable_tqdm=True,
        **kwargs,
    )


def exact_match(prediction: Any) -> dict[str, float]:
    labels = np.where(prediction.label_ids == -100, PAD, prediction.label_ids)
    preds = [decode(row) for row in prediction.predictions]
    refs = [decode(row) for row in labels]
    return {"exact_match": float(np.mean([p == r for p, r in zip(preds, refs)]))}


def test_compute_metrics_gets_generated_ids_and_labels_ready_to_decode(tmp_path: Path) -> None:
    seen: list[Any] = []

    def metrics(prediction: Any) -> dict[str, float]:
        seen.append(prediction)
        return exact_match(prediction)

    trainer = Seq2SeqTrainer(
        model=Reverser(),
        args=_args(tmp_path, predict_with_generate=True),
        compute_metrics=metrics,
    )
    result = trainer.evaluate(examples(WORDS))
    assert result["eval_exact_match"] == 1.0
    assert "eval_loss" in result
    prediction = seen[0]
    assert prediction.predictions.shape == (7, 10)  # padded to generation_config.max_length
    assert [decode(row) for row in prediction.predictions] == [w[::-1] for w in WORDS]


def test_bleu_with_sacrebleu(tmp_path: Path) -> None:
    sacrebleu = pytest.importorskip("sacrebleu")

    def bleu(prediction: Any) -> dict[str, float]:
        labels = np.where(prediction.label_ids == -100, PAD, prediction.label_ids)
        preds = [" ".join(decode(row)) for row in prediction.predictions]
        refs = [" ".join(decode(row)) for row in labels]
        return {"bleu": sacrebleu.corpus_bleu(preds, [refs]).score}

    trainer = Seq2SeqTrainer(
        model=Reverser(), args=_args(tmp_path, predict_with_generate=True), compute_metrics=bleu
    )
    assert trainer.evaluate(examples(WORDS))["eval_bleu"] == pytest.approx(100.0)


class NoGenerate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(5, 5)
        self.config = TinySeq2SeqConfig()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: Any = None, labels: Any = None
    ) -> Any:
        logits = self.linear(input_ids.float())
        return ModelOutput(loss=logits.mean(), logits=logits)


def test_a_model_without_generate_gets_a_clear_error(tmp_path: Path) -> None:
    trainer = Seq2SeqTrainer(model=NoGenerate(), args=_args(tmp_path, predict_with_generate=True))
    with pytest.raises(
        AttributeError, match=r"predict_with_generate=True needs a model with a `generate`"
    ):
        trainer.predict(examples(WORDS))
    # Without predict_with_generate the same model evaluates through its forward pass.
    plain = Seq2SeqTrainer(model=NoGenerate(), args=_args(tmp_path))
    assert plain.predict(examples(WORDS)).predictions.shape == (7, 5)


def test_predict_without_labels_has_no_loss(tmp_path: Path) -> None:
    trainer = Seq2SeqTrainer(
        model=TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12)),
        args=_args(tmp_path, predict_with_generate=True, generation_num_beams=2),
    )
    unlabelled = [{k: v for k, v in ex.items() if k != "labels"} for ex in examples(WORDS)]
    result = trainer.predict(unlabelled, max_new_tokens=4)
    assert result.label_ids is None
    assert "test_loss" not in result.metrics
    assert result.predictions.shape == (7, 20)
    assert (result.predictions[:, 6:] == PAD).all()  # 1 start + at most 4 new tokens


def test_generation_config_dict_replaces_the_models(tmp_path: Path) -> None:
    model = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12))
    trainer = Seq2SeqTrainer(
        model=model,
        args=_args(
            tmp_path,
            predict_with_generate=True,
            generation_config={"max_length": 6, "num_beams": 2, "pad_token_id": PAD},
        ),
    )
    assert isinstance(model.generation_config, GenerationConfig)
    assert (model.generation_config.max_length, model.generation_config.num_beams) == (6, 2)
    assert trainer.predict(examples(WORDS)).predictions.shape == (7, 6)


def test_prediction_loss_only_skips_generation(tmp_path: Path) -> None:
    trainer = Seq2SeqTrainer(
        model=NoGenerate(),
        args=_args(tmp_path, predict_with_generate=True, prediction_loss_only=True),
    )
    result = trainer.predict(examples(WORDS))
    assert result.predictions is None and "test_loss" in result.metrics


def test_no_optimizer_cls_and_kwargs_parameter(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        Seq2SeqTrainer(  # type: ignore[call-arg]
            model=Reverser(), args=_args(tmp_path), optimizer_cls_and_kwargs=(torch.optim.SGD, {})
        )


def test_saved_models_carry_their_generation_config(tmp_path: Path) -> None:
    model = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12))
    trainer = Seq2SeqTrainer(
        model=model, args=_args(tmp_path, generation_config={"max_length": 6, "pad_token_id": PAD})
    )
    trainer.save_model(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "generation_config.json").is_file()
    loaded = TinySeq2Seq.from_pretrained(tmp_path / "saved")
    assert loaded.generation_config.max_length == 6
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters()))


def test_generation_kwargs_reach_every_eval_dataset_of_a_dict(tmp_path: Path) -> None:
    # transformers loses them below the first dataset level; we keep them (deliberate fix).
    model = TinySeq2Seq(TinySeq2SeqConfig(vocab_size=12))
    model.generation_config.eos_token_id = None  # never stops early: the width is exact
    widths: list[int] = []

    def record(prediction: Any) -> dict[str, float]:
        widths.append(prediction.predictions.shape[1])
        return {}

    trainer = Seq2SeqTrainer(
        model=model,
        args=_args(tmp_path, predict_with_generate=True),
        eval_dataset={"first": examples(WORDS[:3]), "second": examples(WORDS[3:])},
        compute_metrics=record,
    )
    metrics = trainer.evaluate(max_new_tokens=24)
    assert widths == [25, 25]
    assert "eval_first_loss" in metrics and "eval_second_loss" in metrics


def test_sortish_sampler_changes_nothing(tmp_path: Path) -> None:
    # Declared in transformers 5.x but unused there: same samplers and order either way.
    data = examples(WORDS)
    loaders = [
        Seq2SeqTrainer(
            model=Reverser(), args=_args(tmp_path, sortish_sampler=flag, seed=3), train_dataset=data
        ).get_train_dataloader()
        for flag in (False, True)
    ]
    orders = [[batch["input_ids"].tolist() for batch in loader] for loader in loaders]
    assert type(loaders[0].sampler) is type(loaders[1].sampler)
    assert orders[0] == orders[1]
