"""evaluate()/predict() side by side with transformers: same keys, values and arrays.

The token model gives per-token logits whose length differs between batches (the collator
pads per batch), so predictions, labels and inputs are padded with -100 across batches.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from trainer_support import (
    RaggedTokenDataset,
    RegressionDataset,
    TinyTokenModel,
    TupleRegressionModel,
    base_kwargs,
    build_ours,
    build_reference,
    pad_collator,
    strip_runtime,
)


def _token_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyTokenModel()


def _both(model: torch.nn.Module, kwargs: dict[str, Any], **trainer_kwargs: Any) -> tuple[Any, Any]:
    ref = build_reference(copy.deepcopy(model), kwargs, **trainer_kwargs)
    ours = build_ours(copy.deepcopy(model), kwargs, **trainer_kwargs)
    return ref, ours


def _assert_nested_equal(a: Any, b: Any) -> None:
    if a is None or b is None:
        assert a is None and b is None
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_nested_equal(x, y)
    else:
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(b, a, rtol=1e-6)


def _assert_same_metrics(ref: dict[str, Any], ours: dict[str, Any]) -> None:
    assert list(ref) == list(ours)
    clean_ref, clean_ours = strip_runtime(ref), strip_runtime(ours)
    for key, value in clean_ref.items():
        assert clean_ours[key] == pytest.approx(value, rel=1e-6), key


def _accuracy(p: Any) -> dict[str, Any]:
    preds = p.predictions.argmax(-1) if p.predictions.ndim == 3 else p.predictions
    mask = p.label_ids != -100
    out = {
        "accuracy": np.float32((preds[mask] == p.label_ids[mask]).mean()),
        "n": np.int64(mask.sum()),
    }
    if p.inputs is not None:
        out["input_sum"] = torch.tensor(float((p.inputs[p.inputs != -100]).sum()))
    if p.losses is not None:
        out["loss_count"] = len(p.losses)
    return out


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"eval_accumulation_steps": 1},
        {"eval_accumulation_steps": 2, "include_for_metrics": ["inputs", "loss"]},
        {"per_device_eval_batch_size": 3, "include_for_metrics": ["inputs"]},
    ],
    ids=["plain", "accumulate-1", "accumulate-2-inputs-loss", "batch-3-inputs"],
)
def test_evaluate_and_predict_ragged_outputs_match(
    tmp_path: Path, overrides: dict[str, Any]
) -> None:
    kwargs = base_kwargs(tmp_path, **overrides)
    data = RaggedTokenDataset(n=10, seed=3)
    ref, ours = _both(
        _token_model(),
        kwargs,
        eval_dataset=data,
        data_collator=pad_collator,
        compute_metrics=_accuracy,
    )
    _assert_same_metrics(ref.evaluate(), ours.evaluate())
    ref_pred, our_pred = ref.predict(data), ours.predict(data)
    _assert_same_metrics(ref_pred.metrics, our_pred.metrics)
    _assert_nested_equal(ref_pred.predictions, our_pred.predictions)
    _assert_nested_equal(ref_pred.label_ids, our_pred.label_ids)
    assert our_pred.predictions.shape[1] == 7  # padded to the longest sequence of any batch
    assert (our_pred.label_ids == -100).any()
    assert [strip_runtime(e) for e in ours.state.log_history] == [
        strip_runtime(e) for e in ref.state.log_history
    ]


def test_preprocess_logits_and_unconcatenated_batches_match(tmp_path: Path) -> None:
    seen: list[tuple[int, ...]] = []

    def preprocess(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(logits.shape))
        return logits.argmax(-1)

    def metrics(p: Any) -> dict[str, float]:
        assert isinstance(p.predictions, list) and isinstance(p.label_ids, list)
        hits = sum(
            int(((pr == la) & (la != -100)).sum()) for pr, la in zip(p.predictions, p.label_ids)
        )
        return {"hits": hits, "batches": len(p.predictions)}

    kwargs = base_kwargs(tmp_path, eval_do_concat_batches=False)
    data = RaggedTokenDataset(n=9, seed=4)
    ref, ours = _both(
        _token_model(),
        kwargs,
        eval_dataset=data,
        data_collator=pad_collator,
        compute_metrics=metrics,
        preprocess_logits_for_metrics=preprocess,
    )
    ref_metrics = ref.evaluate()
    n_calls = len(seen)
    our_metrics = ours.evaluate()
    assert seen[:n_calls] == seen[n_calls:]
    _assert_same_metrics(ref_metrics, our_metrics)
    _assert_nested_equal(ref.predict(data).predictions, ours.predict(data).predictions)


def test_batch_eval_metrics_match(tmp_path: Path) -> None:
    calls: dict[str, list[bool]] = {"ref": [], "ours": []}

    def make(name: str):  # type: ignore[no-untyped-def]
        total = {"hits": 0.0, "count": 0.0}

        def metrics(p: Any, compute_result: bool) -> dict[str, float]:
            calls[name].append(compute_result)
            preds = p.predictions.argmax(-1)
            mask = p.label_ids != -100
            total["hits"] += float((preds[mask] == p.label_ids[mask]).sum())
            total["count"] += float(mask.sum())
            result = {"accuracy": total["hits"] / total["count"]}
            if compute_result:
                total["hits"] = total["count"] = 0.0
            return result

        return metrics

    kwargs = base_kwargs(tmp_path, batch_eval_metrics=True)
    data = RaggedTokenDataset(n=10, seed=5)
    model = _token_model()
    ref = build_reference(
        copy.deepcopy(model),
        kwargs,
        eval_dataset=data,
        data_collator=pad_collator,
        compute_metrics=make("ref"),
    )
    ours = build_ours(
        copy.deepcopy(model),
        kwargs,
        eval_dataset=data,
        data_collator=pad_collator,
        compute_metrics=make("ours"),
    )
    _assert_same_metrics(ref.evaluate(), ours.evaluate())
    assert calls["ours"] == calls["ref"] == [False, False, True]
    ref_pred, our_pred = ref.predict(data), ours.predict(data)
    _assert_same_metrics(ref_pred.metrics, our_pred.metrics)
    _assert_nested_equal(ref_pred.predictions, our_pred.predictions)


def test_tuple_outputs_label_names_and_prediction_loss_only_match(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TupleRegressionModel()
    data = RegressionDataset(n=10, seed=2)
    for overrides in ({}, {"prediction_loss_only": True}, {"per_device_eval_batch_size": 8}):
        ref, ours = _both(model, base_kwargs(tmp_path, **overrides), eval_dataset=data)
        _assert_same_metrics(ref.evaluate(), ours.evaluate())
        ref_pred, our_pred = ref.predict(data), ours.predict(data)
        _assert_same_metrics(ref_pred.metrics, our_pred.metrics)
        _assert_nested_equal(ref_pred.predictions, our_pred.predictions)
        _assert_nested_equal(ref_pred.label_ids, our_pred.label_ids)


def test_predict_without_labels_and_ignore_keys_match(tmp_path: Path) -> None:
    class Unlabelled(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": [i + 1] * (1 + i % 3)}

    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros(len(features), width, dtype=torch.long)
        for row, f in enumerate(features):
            ids[row, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
        return {"input_ids": ids}

    kwargs = base_kwargs(tmp_path, per_device_eval_batch_size=2)
    ref, ours = _both(_token_model(), kwargs, data_collator=collate)
    ref_pred, our_pred = ref.predict(Unlabelled()), ours.predict(Unlabelled())
    assert our_pred.label_ids is None and "test_loss" not in our_pred.metrics
    _assert_same_metrics(ref_pred.metrics, our_pred.metrics)
    _assert_nested_equal(ref_pred.predictions, our_pred.predictions)
    ref_pred = ref.predict(Unlabelled(), ignore_keys=["logits"])
    our_pred = ours.predict(Unlabelled(), ignore_keys=["logits"])
    assert ref_pred.predictions == our_pred.predictions == ()


def test_custom_prefix_and_dict_eval_datasets_match(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TupleRegressionModel()
    sets = {"a": RegressionDataset(n=5, seed=1), "b": RegressionDataset(n=7, seed=2)}
    ref, ours = _both(model, base_kwargs(tmp_path), eval_dataset=sets)
    _assert_same_metrics(ref.evaluate(), ours.evaluate())
    _assert_same_metrics(
        ref.evaluate(sets["a"], metric_key_prefix="dev"),
        ours.evaluate(sets["a"], metric_key_prefix="dev"),
    )
    _assert_same_metrics(ref.evaluate(sets), ours.evaluate(sets))
    assert any("dev_loss" in entry for entry in ours.state.log_history)


def test_gpt2_evaluate_and_predict_match(tmp_path: Path) -> None:
    from trainer_support import tiny_gpt2

    def perplexity(p: Any) -> dict[str, float]:
        return {
            "tokens": int((p.label_ids != -100).sum()),
            "logit_mean": float(p.predictions[0].mean()),
        }

    data = RaggedTokenDataset(n=6, vocab=50, seed=8)
    kwargs = base_kwargs(tmp_path, per_device_eval_batch_size=4, eval_accumulation_steps=1)
    ref, ours = _both(
        tiny_gpt2(2),
        kwargs,
        eval_dataset=data,
        data_collator=pad_collator,
        compute_metrics=perplexity,
    )
    _assert_same_metrics(ref.evaluate(), ours.evaluate())
    ref_pred, our_pred = ref.predict(data), ours.predict(data)
    _assert_same_metrics(ref_pred.metrics, our_pred.metrics)
    _assert_nested_equal(
        ref_pred.predictions, our_pred.predictions
    )  # past_key_values ignored via the config
    _assert_nested_equal(ref_pred.label_ids, our_pred.label_ids)
