"""`Trainer.create_model_card`: the card transformers drafts, written locally, side by side."""

from __future__ import annotations

import math
import socket
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainer_args import TrainingArguments
from trainer_loop import Trainer
from trainer_loop.model_card import (
    ModelCard,
    hyperparameters,
    markdown_table,
    merged_tags,
    parse_log_history,
    task_of,
    to_yaml,
)

yaml = pytest.importorskip("yaml")

HISTORY: list[dict[str, Any]] = [
    {"loss": 2.5, "grad_norm": 1.25, "learning_rate": 1e-3, "epoch": 0.5, "step": 2},
    {"eval_loss": 2.25, "eval_accuracy": 0.125, "eval_rouge1": 0.3333333, "eval_runtime": 0.5,
     "eval_samples_per_second": 10.0, "eval_steps_per_second": 2.0, "epoch": 0.5, "step": 2},
    {"loss": 2.0, "grad_norm": 0.75, "learning_rate": 5e-4, "epoch": 1.0, "step": 4},
    {"eval_loss": 1.987654321, "eval_accuracy": 0.25, "eval_rouge1": 0.5, "eval_runtime": 0.5,
     "eval_samples_per_second": 10.0, "eval_steps_per_second": 2.0, "epoch": 1.0, "step": 4},
    {"train_runtime": 3.0, "train_samples_per_second": 5.0, "train_steps_per_second": 1.0,
     "total_flos": 10.0, "train_loss": 2.25, "epoch": 1.0, "step": 4},
    {"eval_loss": 1.987654321, "eval_accuracy": 0.25, "eval_rouge1": 0.5, "eval_runtime": 0.4,
     "eval_samples_per_second": 12.0, "eval_steps_per_second": 3.0, "epoch": 1.0, "step": 4},
]  # fmt: skip
HISTORIES = {
    "trained": HISTORY,
    "eval only": [HISTORY[1]],
    "eval first": [HISTORY[1], HISTORY[4]],
    "no eval": [HISTORY[0], HISTORY[4]],
    "empty": [],
}


def _split(card: str) -> tuple[dict[str, Any], str]:
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body[: body.index("### Framework versions")]


# ------------------------------------------------------------------- against transformers


@pytest.mark.reference
@pytest.mark.parametrize("name", HISTORIES)
def test_log_history_parsing_matches_transformers(name: str) -> None:
    modelcard = pytest.importorskip("transformers.modelcard")
    _, rows, results = modelcard.parse_log_history(HISTORIES[name])
    assert parse_log_history(HISTORIES[name]) == (rows, results)
    if rows:
        assert markdown_table(rows) == modelcard.make_markdown_table(rows)


CARDS = {
    "scratch, unknown data": {"model_name": "run"},
    "fine-tuned, one dataset": {"model_name": "run", "finetuned_from": "gpt2", "tasks": ["text-generation"],
                                "dataset_tags": ["wikitext"], "dataset": ["wikitext"],
                                "dataset_args": ["wikitext-2-raw-v1"], "language": ["en"],
                                "license": "mit"},
    "two datasets, two tasks": {"model_name": "run", "tasks": ["fill-mask", "text-classification"],
                                "dataset_tags": ["a", "b"], "dataset": ["A", "B"],
                                "dataset_metadata": [{"config": "c", "split": "test"}]},
    "unknown task": {"model_name": "run", "tasks": ["summarization"], "dataset_tags": ["x"],
                     "dataset": ["x"]},
}  # fmt: skip


@pytest.mark.reference
@pytest.mark.parametrize("case", CARDS)
def test_card_text_matches_transformers(case: str) -> None:
    modelcard = pytest.importorskip("transformers.modelcard")
    _, rows, results = modelcard.parse_log_history(HISTORY)
    fields = {**CARDS[case], "tags": ["generated_from_trainer"], "eval_results": results,
              "eval_lines": rows, "hyperparameters": {"learning_rate": 0.001, "seed": 42}}  # fmt: skip
    theirs = modelcard.TrainingSummary(**fields).to_model_card()
    ours = ModelCard(**fields).to_markdown()
    assert _split(ours) == _split(theirs)


@pytest.mark.reference
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gradient_accumulation_steps": 4, "warmup_steps": 0.1, "max_steps": 30},
        {"optim": "sgd", "optim_args": "momentum=0.9", "label_smoothing_factor": 0.1},
        {"optim": "adafactor", "per_device_eval_batch_size": 3, "lr_scheduler_type": "cosine"},
    ],
)
def test_hyperparameters_match_transformers(kwargs: dict[str, Any], tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    from transformers.modelcard import extract_hyperparameters_from_trainer

    ours = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **kwargs)
    theirs = transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **kwargs)
    reference = extract_hyperparameters_from_trainer(types.SimpleNamespace(args=theirs))
    assert hyperparameters(ours) == reference


# ------------------------------------------------------------------------- our own rules


@pytest.mark.parametrize(
    ("class_name", "task"),
    [("GPT2LMHeadModel", "text-generation"), ("LlamaForCausalLM", "text-generation"),
     ("BertForMaskedLM", "fill-mask"), ("BertForSequenceClassification", "text-classification"),
     ("T5ForConditionalGeneration", "text2text-generation"), ("BertForQuestionAnswering",
     "question-answering"), ("TapasForTableQuestionAnswering", "table-question-answering"),
     ("Sequential", None)],
)  # fmt: skip
def test_task_from_the_model_class_name(class_name: str, task: str | None) -> None:
    assert task_of(type(class_name, (), {})()) == task


@pytest.mark.parametrize(
    "value",
    [
        {"tags": ["yes", "no", "on", "1e-05", "3", "a: b", "#x", "- y", "  pad", "é", ""]},
        {"model-index": [{"name": "run", "results": []}], "empty": {}, "none": None},
        {"numbers": [1e-05, 0.5, 2, -3, float("inf"), True, 1.0e20]},
        {"nested": [{"task": {"name": "T", "type": "t"}, "metrics": [{"value": 0.1}]}]},
    ],
)
def test_front_matter_yaml_reads_back(value: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(value)) == value


def test_yaml_nan_reads_back_as_nan() -> None:
    assert math.isnan(yaml.safe_load(to_yaml({"x": float("nan")}))["x"])


def test_existing_card_tags_are_kept_when_tags_are_given(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    assert merged_tags(card, "mine") == ("mine", None)
    card.write_text('---\nlibrary_name: peft\ntags:\n- lora\n- "x: y"\n---\n# old\n')
    assert merged_tags(card, ["mine"]) == (["mine", "lora", "x: y"], "peft")
    assert merged_tags(card, None) == (None, "peft")


# -------------------------------------------------------------------------- the Trainer


class _Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        out = self.linear(x).squeeze(-1)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def test_trainer_writes_the_card_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("create_model_card tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    data = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(16)]
    args = TrainingArguments(output_dir=str(tmp_path / "my-run"), use_cpu=True, report_to="none",
                             max_steps=4, eval_strategy="steps", eval_steps=2, logging_steps=1,
                             per_device_train_batch_size=4, disable_tqdm=True)  # fmt: skip
    trainer = Trainer(model=_Regression(), args=args, train_dataset=data, eval_dataset=data[:8])
    trainer.train()
    trainer.create_model_card(tags="regression", dataset="toy")
    text = (tmp_path / "my-run" / "README.md").read_text()
    front, body = _split(text)
    assert front["tags"] == ["regression", "generated_from_trainer"]
    assert front["model-index"] == [{"name": "my-run", "results": []}]
    assert "# my-run" in body
    assert "This model was trained from scratch on the toy dataset." in body
    assert "- training_steps: 4" in body
    assert body.count("| 2    |") + body.count("| 4    |") == 2  # the two evaluations
    assert "- Pytorch " + torch.__version__ in text


def test_only_the_main_process_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = Trainer(model=_Regression(), args=args)
    monkeypatch.setattr(type(args), "process_index", property(lambda self: 1))
    trainer.create_model_card()
    assert not (tmp_path / "README.md").exists()


def test_push_to_hub_stays_a_clear_error(tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = Trainer(model=_Regression(), args=args)
    with pytest.raises(NotImplementedError, match="Hugging Face Hub is not supported"):
        trainer.push_to_hub()
