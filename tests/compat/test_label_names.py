"""Default `label_names` (and `can_return_loss`) are read from the model's forward exactly as
transformers reads them, across model families and heads."""

from __future__ import annotations

from pathlib import Path

import pytest
import transformers
from compat_support import bert_config, common_args, gpt2_config
from support.accelerate_state import reset_accelerate
from transformers.utils import can_return_loss, find_labels

import trainer as ours
from trainer_loop import losses

pytestmark = pytest.mark.reference

CLASSES = [
    "BertForSequenceClassification", "BertForQuestionAnswering", "BertForPreTraining",
    "BertForNextSentencePrediction", "BertForTokenClassification", "BertForMultipleChoice",
    "BertForMaskedLM", "BertModel", "GPT2LMHeadModel", "GPT2DoubleHeadsModel",
    "T5ForConditionalGeneration", "BartForConditionalGeneration", "BartForQuestionAnswering",
    "DistilBertForQuestionAnswering", "LlamaForCausalLM", "WhisperForConditionalGeneration",
    "Wav2Vec2ForCTC", "ViTForImageClassification", "CLIPModel", "BlipForQuestionAnswering",
]  # fmt: skip


@pytest.mark.parametrize("name", CLASSES)
def test_label_names_and_return_loss_read_as_transformers(name: str) -> None:
    model_class = getattr(transformers, name)
    assert losses.find_labels(model_class) == find_labels(model_class)
    assert losses.can_return_loss(model_class) == can_return_loss(model_class)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (lambda: transformers.GPT2DoubleHeadsModel(gpt2_config(40)), ["labels", "mc_labels"]),
        (lambda: transformers.BertForPreTraining(bert_config(40)), ["labels", "next_sentence_label"]),
        (lambda: transformers.BertForQuestionAnswering(bert_config(40)), ["start_positions", "end_positions"]),
    ],
    ids=["double-heads", "pretraining", "question-answering"],
)  # fmt: skip
def test_trainer_label_names(tmp_path: Path, model: object, expected: list[str]) -> None:
    built = model()  # type: ignore[operator]
    names = {}
    for module in (transformers, ours):
        reset_accelerate()
        args = module.TrainingArguments(**common_args(tmp_path / module.__name__))
        names[module.__name__] = module.Trainer(model=built, args=args).label_names
    assert names["trainer"] == names["transformers"] == expected
