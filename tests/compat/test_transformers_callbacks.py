"""Callbacks written against transformers (subclasses of `transformers.TrainerCallback`, and
transformers' own EarlyStoppingCallback) work in our Trainer, with the same events and stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
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


class Recorder(transformers.TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        timings = ("_runtime", "_per_second")
        # `throughput_*`: our extension, added to the on_log payload of training logs only.
        keys = [k for k in logs if not k.endswith(timings) and not k.startswith("throughput_")]
        self.events.append(("log", state.global_step, sorted(keys)))

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.events.append(("evaluate", state.global_step))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.events.append(("save", state.global_step))


def test_transformers_callbacks_and_early_stopping(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))
    results: dict[str, Any] = {}
    for name, module in (("reference", transformers), ("ours", ours)):
        reset_accelerate()
        recorder = Recorder()
        args = module.TrainingArguments(
            **common_args(
                tmp_path / name, per_device_train_batch_size=5, num_train_epochs=30,
                eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
                metric_for_best_model="eval_loss", save_total_limit=2, learning_rate=0.5,
            )
        )  # fmt: skip
        trainer = module.Trainer(
            model=model, args=args, train_dataset=dataset, eval_dataset=dataset,
            data_collator=transformers.DataCollatorWithPadding(tokenizer),
            callbacks=[transformers.EarlyStoppingCallback(early_stopping_patience=2), recorder],
        )  # fmt: skip
        output = trainer.train()
        best = Path(trainer.state.best_model_checkpoint).name
        results[name] = (output.global_step, best, recorder.events)
    assert results["ours"] == results["reference"]
    assert results["reference"][0] < 60  # it stopped early
