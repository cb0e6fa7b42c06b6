"""`train_sampling_strategy="batch_rebalance"`: the sampler, its wiring, and parity with transformers."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from trainer_support import (
    RaggedTokenDataset,
    RegressionDataset,
    TinyTokenModel,
    assert_same_logs,
    assert_same_weights,
    base_kwargs,
    build_ours,
    build_reference,
    pad_collator,
    run_both,
)

from trainer_loop import data as data_mod
from trainer_loop.data import BatchRebalanceSampler


def _reference_cls() -> Any:
    return pytest.importorskip("transformers.trainer_pt_utils").BatchRebalanceSampler


def _lengths(n: int, seed: int) -> list[int]:
    # Long-tailed, with ties: exercises the group-size search and the slot freezing.
    g = torch.Generator().manual_seed(seed)
    return [int(v) for v in (torch.rand(n, generator=g) ** 3 * 300).long() + 1]


def _epochs(sampler: Any, epochs: int = 2) -> list[list[list[int]]]:
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


@pytest.mark.reference
@pytest.mark.parametrize("n", [1, 7, 23, 64, 101])
@pytest.mark.parametrize(
    ("batch_size", "grad_accum", "dp_size"), [(1, 1, 1), (3, 2, 1), (2, 4, 2), (5, 1, 3)]
)
@pytest.mark.parametrize("drop_last", [True, False])
def test_index_order_matches_transformers(
    n: int, batch_size: int, grad_accum: int, dp_size: int, drop_last: bool
) -> None:
    reference_cls = _reference_cls()
    lengths = _lengths(n, seed=n)
    for rank in range(dp_size):
        kwargs: dict[str, Any] = {
            "lengths": lengths,
            "effective_batch_size": batch_size * grad_accum * dp_size,
            "dp_size": dp_size,
            "grad_accum": grad_accum,
            "seed": 3,
            "rank": rank,
            "drop_last": drop_last,
        }
        ours, ref = BatchRebalanceSampler(**kwargs), reference_cls(**kwargs)
        assert len(ours) == len(ref)
        assert _epochs(ours) == _epochs(ref)


def test_ranks_share_each_step_and_cover_the_data() -> None:
    lengths = _lengths(48, seed=1)
    per_rank = [
        list(
            BatchRebalanceSampler(lengths, effective_batch_size=12, dp_size=2, grad_accum=3, rank=r)
        )
        for r in range(2)
    ]
    assert len(per_rank[0]) == len(per_rank[1]) == 12  # 4 optimizer steps x 3 micro-batches
    order = torch.randperm(48, generator=torch.Generator().manual_seed(42)).tolist()
    for step in range(4):
        # Both ranks draw this step's micro-batches from the same 12 shuffled examples, each once.
        micro = [b for batches in per_rank for b in batches[step * 3 : step * 3 + 3]]
        assert all(micro)
        assert sorted(i for b in micro for i in b) == sorted(order[step * 12 : step * 12 + 12])


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="effective_batch_size"):
        BatchRebalanceSampler([1, 2, 3], effective_batch_size=2, dp_size=2, grad_accum=2)
    with pytest.raises(ValueError, match="must be >= 1"):
        BatchRebalanceSampler([1, 2, 3], effective_batch_size=2, dp_size=0, grad_accum=1)


def _args(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "train_sampling_strategy": "batch_rebalance",
        "train_batch_size": 2,
        "gradient_accumulation_steps": 3,
        "world_size": 1,
        "process_index": 0,
        "data_seed": None,
        "seed": 42,
        "dataloader_drop_last": False,
        "length_column_name": "length",
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_train_sampler_settings_follow_the_arguments() -> None:
    dataset = [{"input_ids": [0] * (1 + i % 4)} for i in range(30)]
    sampler = data_mod.train_sampler(_args(world_size=2, process_index=1), dataset)
    assert isinstance(sampler, BatchRebalanceSampler)
    assert (sampler.effective_batch_size, sampler.dp_size, sampler.grad_accum) == (12, 2, 3)
    assert (sampler.rank, sampler.seed, sampler.drop_last) == (1, 42, False)
    assert sampler.lengths == [1 + i % 4 for i in range(30)]
    seeded = data_mod.train_sampler(_args(seed=5, data_seed=9, dataloader_drop_last=True), dataset)
    assert isinstance(seeded, BatchRebalanceSampler)
    assert (seeded.seed, seeded.rank, seeded.drop_last) == (9, 0, True)


def test_lengths_come_from_the_processing_class_input_name() -> None:
    processor = SimpleNamespace(model_input_names=["pixel_ids", "mask"])
    dataset = [{"pixel_ids": [0] * (i + 1), "input_ids": [0]} for i in range(6)]
    sampler = data_mod.train_sampler(
        _args(train_batch_size=1, gradient_accumulation_steps=1), dataset, processor
    )
    assert isinstance(sampler, BatchRebalanceSampler)
    assert sampler.lengths == [1, 2, 3, 4, 5, 6]


def test_lengths_that_cannot_be_inferred_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'input_ids' key"):
        data_mod.train_sampler(_args(), RegressionDataset(n=8))


def test_unsized_dataset_ignores_the_strategy_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Stream(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            return iter([{"input_ids": [1]}])

    with caplog.at_level(logging.WARNING, logger="trainer_loop.data"):
        assert data_mod.train_sampler(_args(), Stream()) is None
    assert "batch_rebalance" in caplog.text and "__len__" in caplog.text


def test_length_column_of_a_datasets_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = {
        "input_ids": [[1] * (1 + i % 3) for i in range(9)],
        "length": [10 * i for i in range(9)],
    }
    dataset = datasets.Dataset.from_dict(rows)
    sampler = data_mod.train_sampler(
        _args(train_batch_size=1, gradient_accumulation_steps=1), dataset
    )
    assert isinstance(sampler, BatchRebalanceSampler)
    assert sampler.lengths == rows["length"]


def test_a_sharding_wrapper_becomes_a_passthrough() -> None:
    from accelerate.data_loader import BatchSamplerShard

    class ShardingAccelerator:
        """Wraps the batch sampler as accelerate does on rank 1 of 2."""

        distributed_type = "MULTI_CPU"
        device = torch.device("cpu")

        def prepare(self, loader: Any, device_placement: Any = None) -> Any:
            shard = BatchSamplerShard(loader.batch_sampler, num_processes=2, process_index=1)
            return SimpleNamespace(batch_sampler=shard, dataset=loader.dataset)

    dataset = [{"input_ids": [0] * (1 + i % 5)} for i in range(20)]
    args = _args(
        dataloader_num_workers=0, dataloader_pin_memory=False, dataloader_persistent_workers=False
    )
    args.dataloader_prefetch_factor = None
    sampler = data_mod.train_sampler(args, dataset)
    assert isinstance(sampler, BatchRebalanceSampler)
    loader: Any = data_mod.build_dataloader(
        ShardingAccelerator(), args, dataset, 2, list, sampler, True
    )
    assert list(loader.batch_sampler) == list(sampler)


# ---- the Trainer, side by side with transformers ----------------------------------------------------


def _kwargs(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    # seed=42: transformers seeds this sampler with a fixed 42, we with data_seed/seed.
    return base_kwargs(
        tmp_path,
        train_sampling_strategy="batch_rebalance",
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        num_train_epochs=2,
        seed=42,
        **overrides,
    )


def _batches(trainer: Any) -> list[list[list[int]]]:
    loader = trainer.get_train_dataloader()
    order = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        if hasattr(loader.batch_sampler, "set_epoch"):
            loader.batch_sampler.set_epoch(epoch)
        order.append([batch["input_ids"].tolist() for batch in loader])
    return order


@pytest.mark.reference
def test_trainer_batches_match_transformers(tmp_path: Path) -> None:
    data = RaggedTokenDataset(n=23, seed=2, max_len=12)
    kwargs = _kwargs(tmp_path)
    ref = build_reference(TinyTokenModel(), kwargs, train_dataset=data, data_collator=pad_collator)
    ours = build_ours(TinyTokenModel(), kwargs, train_dataset=data, data_collator=pad_collator)
    assert _batches(ours) == _batches(ref)
    assert len(ours.get_train_dataloader()) == len(ref.get_train_dataloader())


@pytest.mark.reference
def test_trainer_logs_match_transformers(tmp_path: Path) -> None:
    data = RaggedTokenDataset(n=23, seed=2, max_len=12)
    kwargs = _kwargs(tmp_path)
    torch.manual_seed(0)
    model = TinyTokenModel()
    ref, ours, _, _ = run_both(model, kwargs, train_dataset=data, data_collator=pad_collator)
    assert ours.state.global_step == ref.state.global_step > 0
    assert_same_logs(ref.state.log_history, ours.state.log_history)
    assert_same_weights(ref.model, ours.model)


def test_data_seed_changes_the_order(tmp_path: Path) -> None:
    data = RaggedTokenDataset(n=23, seed=2, max_len=12)
    ours = build_ours(
        TinyTokenModel(), _kwargs(tmp_path), train_dataset=data, data_collator=pad_collator
    )
    again = build_ours(
        TinyTokenModel(), _kwargs(tmp_path), train_dataset=data, data_collator=pad_collator
    )
    other = build_ours(
        TinyTokenModel(),
        _kwargs(tmp_path, data_seed=11),
        train_dataset=data,
        data_collator=pad_collator,
    )
    first = _batches(ours)
    assert first == _batches(again)
    assert first != _batches(other)
    assert first[0] != first[1]  # reshuffled each epoch
