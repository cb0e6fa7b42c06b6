"""Samplers: one per `train_sampling_strategy`, and the evaluation sampler, as transformers picks them."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import RandomSampler, Sampler, SequentialSampler

from trainer_loop.data.loaders import has_length, is_datasets_dataset
from trainer_loop.data.rebalance import BatchRebalanceSampler

logger = logging.getLogger(__name__)

__all__ = [
    "BatchRebalanceSampler",
    "LengthGroupedSampler",
    "eval_sampler",
    "get_length_grouped_indices",
    "train_sampler",
]


def get_length_grouped_indices(
    lengths: Sequence[int],
    batch_size: int,
    mega_batch_mult: int | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """A random permutation cut into mega-batches, each sorted by descending length.

    The longest element overall is moved to the very first position, so that an out-of-memory
    error shows up at the first step rather than late in the epoch.
    """
    if mega_batch_mult is None:
        mega_batch_mult = max(min(len(lengths) // (batch_size * 4), 50), 1)
    # torch (not numpy/random) so that a distributed sampler's torch seed drives it.
    indices = torch.randperm(len(lengths), generator=generator)
    size = mega_batch_mult * batch_size
    megabatches = [indices[i : i + size].tolist() for i in range(0, len(lengths), size)]
    megabatches = [sorted(mb, key=lambda i: lengths[i], reverse=True) for mb in megabatches]
    maximums = [lengths[mb[0]] for mb in megabatches]
    max_idx = int(torch.argmax(torch.tensor(maximums)).item())
    megabatches[0][0], megabatches[max_idx][0] = megabatches[max_idx][0], megabatches[0][0]
    return [i for mb in megabatches for i in mb]


class LengthGroupedSampler(Sampler[int]):
    """Sample indices so that batches hold examples of similar lengths, with some randomness."""

    def __init__(
        self,
        batch_size: int,
        dataset: Any = None,
        lengths: Sequence[int] | torch.Tensor | None = None,
        model_input_name: str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if dataset is None and lengths is None:
            raise ValueError("One of dataset and lengths must be provided.")
        self.batch_size = batch_size
        if lengths is None:
            name = model_input_name if model_input_name is not None else "input_ids"
            if not isinstance(dataset[0], Mapping) or name not in dataset[0]:
                raise ValueError(
                    "Can only automatically infer lengths for datasets whose items are dictionaries with an "
                    f"'{name}' key."
                )
            lengths = [len(feature[name]) for feature in dataset]
        elif isinstance(lengths, torch.Tensor):
            lengths = lengths.tolist()
        self.lengths: list[int] = list(lengths)
        self.generator = generator

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(
            get_length_grouped_indices(self.lengths, self.batch_size, generator=self.generator)
        )


def _lengths_column(dataset: Any, column: str) -> Any:
    if is_datasets_dataset(dataset) and column in dataset.column_names:
        return dataset[column]
    return None


def _model_input_name(processing_class: Any) -> str | None:
    names = getattr(processing_class, "model_input_names", None)
    return names[0] if names else None


def _inferred_lengths(dataset: Any, args: Any, processing_class: Any) -> list[int]:
    """Lengths from `length_column_name` (datasets.Dataset), else `len(item[model_input_name])`."""
    lengths = _lengths_column(dataset, args.length_column_name)
    if lengths is None:
        name = _model_input_name(processing_class) or "input_ids"
        if not isinstance(dataset[0], Mapping) or name not in dataset[0]:
            raise ValueError(
                "Can only automatically infer lengths for datasets whose items are dictionaries with an "
                f"'{name}' key."
            )
        return [len(feature[name]) for feature in dataset]
    return lengths.tolist() if isinstance(lengths, torch.Tensor) else list(lengths)


def _batch_rebalance_sampler(
    args: Any, dataset: Any, processing_class: Any
) -> BatchRebalanceSampler:
    world_size = max(1, args.world_size)
    grad_accum = args.gradient_accumulation_steps
    # transformers always seeds this sampler with 42; we take data_seed/seed like the other
    # samplers (the same order at the default seed=42, and a new order when the user asks for one).
    seed = args.data_seed if args.data_seed is not None else args.seed
    return BatchRebalanceSampler(
        lengths=_inferred_lengths(dataset, args, processing_class),
        effective_batch_size=args.train_batch_size * grad_accum * world_size,
        dp_size=world_size,
        grad_accum=grad_accum,
        seed=seed,
        rank=args.process_index if args.world_size > 1 else 0,
        drop_last=args.dataloader_drop_last,
    )


def train_sampler(args: Any, dataset: Any, processing_class: Any = None) -> Sampler[Any] | None:
    """The training sampler for `args.train_sampling_strategy` (None for unsized datasets)."""
    if dataset is None or not has_length(dataset):
        if dataset is not None and args.train_sampling_strategy in (
            "group_by_length",
            "batch_rebalance",
        ):
            logger.warning(
                f"`train_sampling_strategy='{args.train_sampling_strategy}'` is ignored because the training "
                "dataset does not implement `__len__` (e.g. an `IterableDataset`). Examples will be consumed in "
                "the dataset's own order."
            )
        return None
    strategy = args.train_sampling_strategy
    if strategy == "group_by_length":
        return LengthGroupedSampler(
            args.train_batch_size * args.gradient_accumulation_steps,
            dataset=dataset,
            lengths=_lengths_column(dataset, args.length_column_name),
            model_input_name=_model_input_name(processing_class),
        )
    if strategy == "batch_rebalance":
        return _batch_rebalance_sampler(args, dataset, processing_class)
    if strategy == "sequential":
        return SequentialSampler(dataset)
    # accelerate swaps this for a SeedableRandomSampler seeded from `data_seed`/`seed`.
    return RandomSampler(dataset)


def eval_sampler(args: Any, dataset: Any, processing_class: Any = None) -> Sampler[int] | None:
    """Sequential in one process; None when distributed (accelerate shards the batches)."""
    if dataset is None or not has_length(dataset):
        return None
    if args.train_sampling_strategy == "group_by_length":
        # Quirk kept from transformers: evaluation is length-grouped too, with a fixed seed.
        seed = args.data_seed if args.data_seed is not None else args.seed
        return LengthGroupedSampler(
            args.eval_batch_size,
            dataset=dataset,
            lengths=_lengths_column(dataset, args.length_column_name),
            model_input_name=_model_input_name(processing_class),
            generator=torch.Generator().manual_seed(seed),
        )
    if args.world_size <= 1:
        return SequentialSampler(dataset)
    return None


# ---------------------------------------------------------------------------------------------
