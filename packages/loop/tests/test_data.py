"""Data handling: the default collator, samplers and seeded shuffling, column removal, unsized data."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from trainer_support import (
    RegressionDataset,
    RegressionModel,
    assert_same_logs,
    assert_same_weights,
    base_kwargs,
    build_ours,
    build_reference,
)

from trainer_loop.data import (
    LengthGroupedSampler,
    default_data_collator,
    get_length_grouped_indices,
)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return RegressionModel()


@pytest.mark.parametrize(
    "features",
    [
        [{"label": 1, "x": [1.0, 2.0]}, {"label": 0, "x": [3.0, 4.0]}],
        [{"label": 0.5, "x": torch.ones(2)}, {"label": 1.5, "x": torch.zeros(2)}],
        [{"label_ids": [1, 2], "ids": np.arange(3)}, {"label_ids": [3, 4], "ids": np.arange(3)}],
        [
            {"label_ids": torch.tensor([1.0]), "text": "a", "mask": None},
            {"label_ids": torch.tensor([2.0]), "text": "b"},
        ],
        [
            {"labels": [1, 2, 3], "input_ids": [4, 5, 6]},
            {"labels": [7, 8, 9], "input_ids": [1, 2, 3]},
        ],
        [{"label": torch.tensor(2), "x": 1}, {"label": torch.tensor(3), "x": 2}],
    ],
)
def test_default_data_collator_matches_transformers(features: list[dict[str, Any]]) -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers import default_data_collator as reference

    expected = reference(copy.deepcopy(features))
    got = default_data_collator(copy.deepcopy(features))
    assert list(got) == list(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype
        assert torch.equal(got[key], expected[key])


def test_default_data_collator_accepts_objects() -> None:
    class Feature:
        def __init__(self, v: int) -> None:
            self.input_ids = [v, v]
            self.label = v

    batch = default_data_collator([Feature(1), Feature(2)])
    assert batch["labels"].tolist() == [1, 2] and batch["input_ids"].shape == (2, 2)


def test_length_grouped_indices_match_transformers() -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers.trainer_pt_utils import get_length_grouped_indices as reference

    lengths = [
        int(v) for v in torch.randint(1, 50, (100,), generator=torch.Generator().manual_seed(0))
    ]
    expected = reference(lengths, 4, generator=torch.Generator().manual_seed(5))
    assert (
        get_length_grouped_indices(lengths, 4, generator=torch.Generator().manual_seed(5))
        == expected
    )
    sampler = LengthGroupedSampler(4, dataset=[{"input_ids": [0] * n} for n in lengths])
    assert len(sampler) == 100 and sorted(sampler) == list(range(100))


def _train_order(trainer: Any, epochs: int = 2) -> list[list[float]]:
    loader = trainer.get_train_dataloader()
    order = []
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        order.append([float(v) for batch in loader for v in batch["labels"].flatten()])
    return order


def test_shuffling_is_seeded_reproducible_and_matches_transformers(tmp_path: Path) -> None:
    data = RegressionDataset(n=16)
    kwargs = base_kwargs(tmp_path, train_sampling_strategy="random", data_seed=11)
    first = _train_order(build_ours(_model(), kwargs, train_dataset=data))
    again = _train_order(build_ours(_model(), kwargs, train_dataset=data))
    other = _train_order(build_ours(_model(), {**kwargs, "data_seed": 12}, train_dataset=data))
    reference = _train_order(build_reference(_model(), kwargs, train_dataset=data))
    assert first == again == reference
    assert first != other
    assert first[0] != first[1]  # a new permutation each epoch
    assert sorted(first[0]) == sorted(float(v) for v in data.y.flatten())


def test_shuffled_training_matches_transformers(tmp_path: Path) -> None:
    kwargs = base_kwargs(tmp_path, train_sampling_strategy="random", num_train_epochs=2, seed=3)
    model = _model()
    ref = build_reference(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    ref.train()
    ours = build_ours(copy.deepcopy(model), kwargs, train_dataset=RegressionDataset(n=12))
    ours.train()
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_group_by_length_sampler_is_used(tmp_path: Path) -> None:
    data = [{"input_ids": [1] * (1 + i % 5), "labels": [0] * (1 + i % 5)} for i in range(20)]
    ours = build_ours(
        _model(),
        base_kwargs(tmp_path, train_sampling_strategy="group_by_length"),
        train_dataset=data,
    )
    assert isinstance(ours._get_train_sampler(), LengthGroupedSampler)
    assert isinstance(ours._get_eval_sampler(data), LengthGroupedSampler)  # as transformers: below


@pytest.mark.reference
def test_group_by_length_evaluation_order_is_transformers(tmp_path: Path) -> None:
    """transformers groups evaluation batches by length too (a quirk kept): the same order."""
    data = [{"input_ids": [1] * (1 + i % 5), "labels": [0] * (1 + i % 5)} for i in range(20)]
    kwargs = base_kwargs(tmp_path, train_sampling_strategy="group_by_length", data_seed=11)
    ref = build_reference(_model(), kwargs, train_dataset=data)
    ours = build_ours(_model(), kwargs, train_dataset=data)
    expected = list(ref._get_eval_sampler(data))
    assert sorted(expected) == list(range(20)) and expected != list(range(20))
    assert list(ours._get_eval_sampler(data)) == expected


class WithExtraKeys(RegressionDataset):
    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**super().__getitem__(i), "comment": i, "idx": torch.tensor(i)}


def test_remove_unused_columns_for_torch_datasets(tmp_path: Path) -> None:
    ours = build_ours(
        _model(), base_kwargs(tmp_path, max_steps=2), train_dataset=WithExtraKeys(n=8)
    )
    batch = next(iter(ours.get_train_dataloader()))
    assert sorted(batch) == ["labels", "x"]
    ours.train()

    kept = build_ours(
        _model(),
        base_kwargs(tmp_path, max_steps=2, remove_unused_columns=False),
        train_dataset=WithExtraKeys(n=8),
    )
    assert "idx" in next(iter(kept.get_train_dataloader()))
    with pytest.raises(TypeError, match=r"idx|comment"):
        kept.train()


def test_remove_unused_columns_for_hf_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    source = RegressionDataset(n=8)
    data = datasets.Dataset.from_dict(
        {"x": source.x.tolist(), "labels": source.y.tolist(), "text": [str(i) for i in range(8)]}
    ).with_format("torch")
    ours = build_ours(_model(), base_kwargs(tmp_path, max_steps=2), train_dataset=data)
    loader = ours.get_train_dataloader()
    assert loader.dataset.column_names == ["x", "labels"]
    ours.train()

    unrelated = datasets.Dataset.from_dict({"text": ["a", "b"]})
    with pytest.raises(
        ValueError, match="No columns in the dataset match the model's forward method signature"
    ):
        build_ours(_model(), base_kwargs(tmp_path), train_dataset=unrelated).get_train_dataloader()


class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    def __init__(self, n: int) -> None:
        self.data = RegressionDataset(n=n)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self.data[i] for i in range(len(self.data)))


def test_iterable_dataset_matches_transformers(tmp_path: Path) -> None:
    kwargs = base_kwargs(tmp_path, max_steps=5, gradient_accumulation_steps=2, logging_steps=1)
    model = _model()
    ref = build_reference(copy.deepcopy(model), kwargs, train_dataset=Stream(12))
    ref.train()
    ours = build_ours(copy.deepcopy(model), kwargs, train_dataset=Stream(12))
    ours.train()
    assert ours.state.num_train_epochs == sys.maxsize
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_unsized_dataset_needs_max_steps(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_steps has to be specified"):
        build_ours(_model(), base_kwargs(tmp_path), train_dataset=Stream(4))


def test_label_names_are_inferred_from_forward(tmp_path: Path) -> None:
    class Target(torch.nn.Module):
        def forward(self, x, target=None):  # type: ignore[no-untyped-def]
            return x

    class FooForQuestionAnswering(torch.nn.Module):
        def forward(self, input_ids, start_positions=None, end_positions=None):  # type: ignore[no-untyped-def]
            return input_ids

    kwargs = base_kwargs(tmp_path)
    assert build_ours(_model(), kwargs).label_names == ["labels"]
    assert build_ours(Target(), kwargs).label_names == []
    assert build_ours(FooForQuestionAnswering(), kwargs).label_names == [
        "start_positions",
        "end_positions",
    ]
    assert build_ours(Target(), {**kwargs, "label_names": ["target"]}).label_names == ["target"]


def test_worker_processes_and_persistent_eval_loader(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, max_steps=2, dataloader_num_workers=1, dataloader_persistent_workers=True,
        dataloader_prefetch_factor=2, eval_strategy="steps", eval_steps=1,
    )  # fmt: skip
    ours = build_ours(
        _model(), kwargs, train_dataset=RegressionDataset(n=8), eval_dataset=RegressionDataset(n=4)
    )
    out = ours.train()
    assert out.global_step == 2
    assert (
        ours.get_eval_dataloader() is ours.get_eval_dataloader()
    )  # cached with persistent workers
