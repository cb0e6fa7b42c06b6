"""Side-by-side training runs: transformers.Trainer vs ours, same model, data and arguments.

Data are designed so the comparison is exact (sequential sampling); every log_history number
(runtimes aside), the final weights and the callback event sequence must match.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from trainer_support import (
    RaggedTokenDataset,
    RegressionDataset,
    RegressionModel,
    TupleRegressionModel,
    assert_same_logs,
    assert_same_state,
    assert_same_weights,
    base_kwargs,
    build_ours,
    build_reference,
    pad_collator,
    run_both,
    tiny_gpt2,
)


def _model(cls: type = RegressionModel) -> torch.nn.Module:
    torch.manual_seed(0)
    return cls()


def _check(ref, ours, ref_out, our_out) -> None:  # type: ignore[no-untyped-def]
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)
    assert ref_out.global_step == our_out.global_step
    assert our_out.training_loss == pytest.approx(ref_out.training_loss, rel=1e-6)
    assert ours.state.max_steps == ref.state.max_steps
    assert ours.state.num_train_epochs == ref.state.num_train_epochs
    assert ours.state.epoch == pytest.approx(ref.state.epoch)
    assert_same_state(ref.state, ours.state)


@pytest.mark.parametrize(
    "overrides",
    [
        {"lr_scheduler_type": "linear", "num_train_epochs": 2},
        {"lr_scheduler_type": "cosine", "warmup_steps": 2, "num_train_epochs": 2, "optim": "sgd"},
        {
            "lr_scheduler_type": "constant_with_warmup",
            "warmup_steps": 0.3,
            "max_steps": 7,
            "optim": "adafactor",
        },
        {
            "lr_scheduler_type": "polynomial",
            "num_train_epochs": 1.5,
            "weight_decay": 0.1,
            "max_grad_norm": 0.3,
        },
        {
            "gradient_accumulation_steps": 3,
            "num_train_epochs": 2,
            "max_grad_norm": 0.0,
            "logging_steps": 2,
        },
        {"logging_strategy": "epoch", "num_train_epochs": 3, "per_device_train_batch_size": 5},
        {
            "logging_steps": 3,
            "logging_first_step": True,
            "max_steps": 10,
            "dataloader_drop_last": True,
        },
    ],
    ids=[
        "linear",
        "cosine-sgd",
        "warmup-adafactor",
        "poly-fractional-clip-wd",
        "ga3",
        "log-epoch",
        "first-step",
    ],
)
def test_training_matches_transformers(tmp_path: Path, overrides: dict) -> None:
    kwargs = base_kwargs(tmp_path, **overrides)
    _check(*run_both(_model(), kwargs, train_dataset=RegressionDataset(n=18)))


def test_eval_strategies_and_callback_events_match(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path,
        eval_strategy="steps",
        eval_steps=3,
        max_steps=7,
        gradient_accumulation_steps=2,
        logging_steps=2,
    )
    ref, ours, ref_out, our_out = run_both(
        _model(TupleRegressionModel),
        kwargs,
        record=True,
        train_dataset=RegressionDataset(n=20),
        eval_dataset=RegressionDataset(n=6, seed=1),
    )
    _check(ref, ours, ref_out, our_out)
    ref_cb = next(cb for cb in ref.callback_handler.callbacks if hasattr(cb, "events"))
    our_cb = next(cb for cb in ours.callback_handler.callbacks if hasattr(cb, "events"))
    assert our_cb.events == ref_cb.events
    assert ("on_substep_end", 0) in our_cb.events


def test_epoch_eval_and_eval_delay_match(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, eval_strategy="epoch", eval_delay=2, num_train_epochs=3, logging_strategy="epoch"
    )
    ref, ours, *outs = run_both(
        _model(),
        kwargs,
        train_dataset=RegressionDataset(n=8),
        eval_dataset=RegressionDataset(n=5, seed=2),
    )
    _check(ref, ours, *outs)
    assert [e["epoch"] for e in ours.state.log_history if "eval_loss" in e] == [2.0, 3.0]


def test_eval_on_start_and_multiple_eval_datasets_match(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, eval_strategy="steps", eval_steps=2, max_steps=4, eval_on_start=True
    )
    eval_sets = {"a": RegressionDataset(n=5, seed=3), "b": RegressionDataset(n=3, seed=4)}
    ref, ours, *outs = run_both(
        _model(), kwargs, train_dataset=RegressionDataset(n=16), eval_dataset=eval_sets
    )
    _check(ref, ours, *outs)
    assert "eval_a_loss" in ours.state.log_history[0] and "eval_b_loss" in ours.state.log_history[1]


def test_gpt2_language_model_with_num_items_in_batch_matches(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, gradient_accumulation_steps=2, num_train_epochs=1, per_device_train_batch_size=2
    )
    data = RaggedTokenDataset(n=10, vocab=50)
    ref, ours, *outs = run_both(tiny_gpt2(), kwargs, train_dataset=data, data_collator=pad_collator)
    _check(ref, ours, *outs)
    assert ours.model_accepts_loss_kwargs
    assert ours.state.total_flos == ref.state.total_flos > 0


def test_label_smoothing_on_gpt2_matches(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, label_smoothing_factor=0.1, max_steps=3, per_device_train_batch_size=3
    )
    data = RaggedTokenDataset(n=9, vocab=50, seed=5)
    _check(*run_both(tiny_gpt2(1), kwargs, train_dataset=data, data_collator=pad_collator))


def test_compute_loss_func_matches(tmp_path: Path) -> None:
    def loss_func(outputs, labels, num_items_in_batch=None):  # type: ignore[no-untyped-def]
        return (
            torch.nn.functional.l1_loss(outputs["logits"], labels, reduction="sum")
            / num_items_in_batch
        )

    kwargs = base_kwargs(tmp_path, gradient_accumulation_steps=2, max_steps=4)
    _check(
        *run_both(
            _model(), kwargs, train_dataset=RegressionDataset(n=16), compute_loss_func=loss_func
        )
    )


def test_nan_loss_filter_matches(tmp_path: Path) -> None:
    class NanAtSecondCall(RegressionModel):
        calls = 0

        def forward(self, x, labels=None):  # type: ignore[no-untyped-def,override]
            out = super().forward(x, labels)
            type(self).calls += 1
            if labels is not None and type(self).calls == 2:
                out["loss"] = out["loss"] * float("nan")
            return out

    for nan_filter in (True, False):
        kwargs = base_kwargs(
            tmp_path, max_steps=4, logging_steps=2, logging_nan_inf_filter=nan_filter, optim="sgd"
        )
        NanAtSecondCall.calls = 0
        torch.manual_seed(0)
        model = NanAtSecondCall()
        reference = build_reference(
            copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=16)
        )
        NanAtSecondCall.calls = 0
        reference.train()
        ours = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=16))
        NanAtSecondCall.calls = 0
        ours.train()
        assert_same_logs(reference.state.log_history, ours.state.log_history)


def test_gradient_accumulation_equals_larger_batch(tmp_path: Path) -> None:
    model = _model()
    small = build_ours(
        copy.deepcopy(model),
        base_kwargs(
            tmp_path,
            per_device_train_batch_size=2,
            gradient_accumulation_steps=3,
            max_steps=3,
            optim="sgd",
        ),
        train_dataset=RegressionDataset(n=18),
    )
    small.train()
    large = build_ours(
        copy.deepcopy(model),
        base_kwargs(
            tmp_path,
            per_device_train_batch_size=6,
            gradient_accumulation_steps=1,
            max_steps=3,
            optim="sgd",
        ),
        train_dataset=RegressionDataset(n=18),
    )
    large.train()
    assert_same_weights(large.model, small.model, rtol=1e-5)
    small_losses = [e["loss"] for e in small.state.log_history if "loss" in e]
    large_losses = [e["loss"] for e in large.state.log_history if "loss" in e]
    assert small_losses == pytest.approx(large_losses, rel=1e-5)


def test_activation_checkpointing_and_neftune_on_gpt2_match(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, max_steps=3, per_device_train_batch_size=3, gradient_checkpointing=True,
        neftune_noise_alpha=5.0, include_num_input_tokens_seen="non_padding",
    )  # fmt: skip
    data = RaggedTokenDataset(n=9, vocab=50, seed=6)
    ref, ours, *outs = run_both(
        tiny_gpt2(3), kwargs, train_dataset=data, data_collator=pad_collator
    )
    _check(ref, ours, *outs)
    assert ours.model.is_activation_checkpointing
