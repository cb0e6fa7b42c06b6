"""Sequence classification (tiny BERT) with DataCollatorWithPadding on variable-length rows,
compute_metrics accuracy, and the default collator a tokenizer brings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import transformers
from compat_support import (
    accuracy,
    assert_same_logs,
    assert_same_weights,
    bert_config,
    losses_moved,
    make_tokenizer,
    run_side_by_side,
    seeded,
    sentiment_dataset,
)

pytestmark = pytest.mark.reference


def _model(tokenizer: Any) -> Any:
    return seeded(lambda: transformers.BertForSequenceClassification(bert_config(len(tokenizer))))


@pytest.mark.parametrize(
    "explicit_collator", [True, False], ids=["DataCollatorWithPadding", "default"]
)
def test_classifier_matches_transformers(tmp_path: Path, explicit_collator: bool) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    assert (
        len(set(map(len, dataset["input_ids"]))) > 1
    )  # rows of different lengths: padding matters

    def kwargs(model: Any) -> dict[str, Any]:
        extra = {"data_collator": transformers.DataCollatorWithPadding(tokenizer)}
        return dict(
            train_dataset=dataset, eval_dataset=dataset, processing_class=tokenizer,
            compute_metrics=accuracy, **(extra if explicit_collator else {}),
        )  # fmt: skip

    runs = run_side_by_side(
        _model(tokenizer), tmp_path, kwargs, evaluate=True,
        per_device_train_batch_size=10, per_device_eval_batch_size=3, num_train_epochs=4,
        eval_strategy="epoch", learning_rate=3e-3,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ours.label_names == ref.label_names == ["labels"]
    assert losses_moved(ref.state.log_history)
    assert any("eval_accuracy" in entry for entry in ours.state.log_history)
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_predict_matches_transformers(tmp_path: Path) -> None:
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    runs = run_side_by_side(
        _model(tokenizer), tmp_path,
        lambda m: dict(train_dataset=dataset, processing_class=tokenizer, compute_metrics=accuracy),
        per_device_train_batch_size=10, per_device_eval_batch_size=4, max_steps=2,
    )  # fmt: skip
    ref = runs["reference"].predict(dataset)
    ours = runs["ours"].predict(dataset)
    import numpy as np

    np.testing.assert_allclose(ours.predictions, ref.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.label_ids, ref.label_ids)
    assert ours.metrics["test_accuracy"] == ref.metrics["test_accuracy"]
    assert ours.metrics["test_loss"] == pytest.approx(ref.metrics["test_loss"], rel=1e-5)


def test_tuple_outputs_match_transformers(tmp_path: Path) -> None:
    """`return_dict=False`: the model returns tuples `(loss, logits)` instead of a ModelOutput."""
    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = seeded(
        lambda: transformers.BertForSequenceClassification(
            bert_config(len(tokenizer), return_dict=False)
        )
    )
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(
            train_dataset=dataset, eval_dataset=dataset, processing_class=tokenizer,
            compute_metrics=accuracy,
        ),
        evaluate=True, per_device_train_batch_size=10, per_device_eval_batch_size=4, max_steps=3,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert "eval_accuracy" in ours.state.log_history[-1]


def test_eval_dataset_dict_and_padded_inputs_for_metrics(tmp_path: Path) -> None:
    """A dict of datasets.Dataset evaluates each under `eval_<name>_`; with include_for_metrics
    the ragged input ids reach compute_metrics padded (-100) as transformers pads them."""
    from compat_support import common_args, without_speed
    from support.accelerate_state import reset_accelerate

    import trainer as ours

    tokenizer = make_tokenizer()
    dataset = sentiment_dataset(tokenizer)
    model = _model(tokenizer)
    results: dict[str, Any] = {}
    for module in (transformers, ours):
        seen: list[Any] = []

        def metrics(prediction: Any, seen: list[Any] = seen) -> dict[str, float]:
            seen.append(prediction.inputs)
            return accuracy(prediction)

        reset_accelerate()
        args = module.TrainingArguments(
            **common_args(tmp_path, per_device_eval_batch_size=3, include_for_metrics=["inputs"])
        )
        trainer = module.Trainer(
            model=model, args=args, compute_metrics=metrics,
            data_collator=transformers.DataCollatorWithPadding(tokenizer),
            eval_dataset={"all": dataset, "head": dataset.select(range(4))},
        )  # fmt: skip
        results[module.__name__] = (without_speed(trainer.evaluate()), seen)
    (ref_metrics, ref_inputs), (our_metrics, our_inputs) = (
        results["transformers"],
        results["trainer"],
    )
    assert sorted(our_metrics) == sorted(ref_metrics)
    assert our_metrics == pytest.approx(ref_metrics, rel=1e-5)
    assert len(our_inputs) == len(ref_inputs) == 2
    for ours_array, ref_array in zip(our_inputs, ref_inputs):
        np.testing.assert_array_equal(ours_array, ref_array)
