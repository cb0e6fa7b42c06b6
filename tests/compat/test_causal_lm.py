"""Causal LM fine-tuning as in the transformers tutorial: GPT-2 from a config, a tokenised
`datasets.Dataset` that still holds its text columns, DataCollatorForLanguageModeling(mlm=False)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import transformers
from compat_support import (
    assert_same_logs,
    assert_same_weights,
    gpt2_config,
    losses_moved,
    make_tokenizer,
    run_side_by_side,
    seeded,
    text_dataset,
)

pytestmark = pytest.mark.reference

ARGS = dict(
    per_device_train_batch_size=10, per_device_eval_batch_size=4, num_train_epochs=3,
    eval_strategy="epoch",
)  # fmt: skip


def _setup(wrap_dict: bool) -> tuple[Any, Any, Any, Any]:
    tokenizer = make_tokenizer()
    dataset = text_dataset(tokenizer)
    model = seeded(lambda: transformers.GPT2LMHeadModel(gpt2_config(len(tokenizer))))
    collator = transformers.DataCollatorForLanguageModeling(tokenizer, mlm=False)
    if wrap_dict:
        base = collator

        def collator(features: list[Any]) -> dict[str, Any]:  # type: ignore[no-redef]
            return dict(base(features))

    return tokenizer, dataset, model, collator


def _run(tmp_path: Path, wrap_dict: bool) -> dict[str, Any]:
    tokenizer, dataset, model, collator = _setup(wrap_dict)
    return run_side_by_side(
        model,
        tmp_path,
        lambda m: dict(
            train_dataset=dataset,
            eval_dataset=dataset,
            data_collator=collator,
            processing_class=tokenizer,
        ),
        **ARGS,
    )


def test_causal_lm_plain_dict_batches_match_transformers(tmp_path: Path) -> None:
    runs = _run(tmp_path, wrap_dict=True)
    ref, ours = runs["reference"], runs["ours"]
    assert ours.label_names == ref.label_names == ["labels"]
    assert losses_moved(ref.state.log_history)
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_causal_lm_collator_batches_match_transformers(tmp_path: Path) -> None:
    """The collator returns a BatchEncoding (a UserDict): label tokens are still counted."""
    runs = _run(tmp_path, wrap_dict=False)
    ref, ours = runs["reference"], runs["ours"]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


@pytest.fixture
def _restore_log_levels() -> Iterator[None]:
    """log_level="info" changes library loggers process-wide (both trainers do): put them back."""
    names = [
        "transformers",
        "trainer",
        "trainer_args",
        "trainer_dist",
        "trainer_loop",
        "trainer_seq2seq",
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("_restore_log_levels")
def test_unused_columns_removed_and_logged_as_transformers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import trainer as ours

    _, dataset, model, collator = _setup(wrap_dict=True)
    seen: dict[str, list[str]] = {}
    for name, module in (("reference", transformers), ("ours", ours)):
        args = module.TrainingArguments(
            output_dir=str(tmp_path / name), use_cpu=True, report_to="none", log_level="info"
        )
        trainer = module.Trainer(
            model=model, args=args, eval_dataset=dataset, data_collator=collator
        )
        reference_logger = logging.getLogger("transformers")
        handler = caplog.handler
        reference_logger.addHandler(handler)
        try:
            with caplog.at_level(logging.INFO):
                caplog.clear()
                loader = trainer.get_eval_dataloader()
        finally:
            reference_logger.removeHandler(handler)
        seen[name] = [
            r.getMessage() for r in caplog.records if "have been ignored" in r.getMessage()
        ]
        batch = next(iter(loader))
        assert sorted(batch) == ["attention_mask", "input_ids", "labels"]
        assert sorted(loader.dataset.column_names) == ["attention_mask", "input_ids"]
    assert len(seen["ours"]) == 1
    # The same sentence, naming the same columns (their order follows a set in both).
    for name in seen:
        assert (
            "in the Evaluation set don't have a corresponding argument in `GPT2LMHeadModel.forward`"
            in (seen[name][0])
        )
        assert "idx" in seen[name][0] and "text" in seen[name][0]


def test_no_matching_column_error_as_transformers(tmp_path: Path) -> None:
    import datasets

    import trainer as ours

    _, _, model, collator = _setup(wrap_dict=True)
    messages = {}
    for module in (transformers, ours):
        args = module.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
        trainer = module.Trainer(model=model, args=args, data_collator=collator)
        with pytest.raises(ValueError, match="No columns in the dataset match") as info:
            trainer.evaluate(datasets.Dataset.from_dict({"foo": [1, 2]}))
        messages[module.__name__] = str(info.value)
    # Both list the columns in set order (hash-dependent): compare the text and the names.
    assert _normalized(messages["trainer"]) == _normalized(messages["transformers"])


def _normalized(message: str) -> tuple[str, list[list[str]]]:
    import re

    groups = re.findall(r"[(\[]([^)\]]*)[)\]]", message)
    return re.sub(r"[(\[][^)\]]*[)\]]", "()", message), [sorted(g.split(", ")) for g in groups]


def test_gradient_accumulation_token_averaging_matches_transformers(tmp_path: Path) -> None:
    """GA over micro-batches of different token counts: the loss is averaged over all label
    tokens of the step (num_items_in_batch passed to the model), as transformers does."""
    tokenizer, dataset, model, collator = _setup(wrap_dict=False)
    runs = run_side_by_side(
        model, tmp_path,
        lambda m: dict(train_dataset=dataset, data_collator=collator, processing_class=tokenizer),
        per_device_train_batch_size=2, gradient_accumulation_steps=3, num_train_epochs=2,
        logging_steps=1,
    )  # fmt: skip
    ref, ours = runs["reference"], runs["ours"]
    assert ours.state.global_step == ref.state.global_step == 4
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)
