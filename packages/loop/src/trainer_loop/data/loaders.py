"""DataLoaders: built from the `dataloader_*` arguments, then prepared by accelerate (through trainer_dist)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch.utils.data import DataLoader, IterableDataset, Sampler

__all__ = ["build_dataloader", "dataloader_kwargs", "has_length", "is_datasets_dataset"]


def has_length(dataset: Any) -> bool:
    """Whether `len(dataset)` works (IterableDatasets and some streaming sets raise)."""
    try:
        return len(dataset) is not None
    except (TypeError, AttributeError, NotImplementedError):
        return False


def is_datasets_dataset(dataset: Any) -> bool:
    """A `datasets.Dataset`, detected without importing `datasets` unless it is already loaded."""
    module = type(dataset).__module__
    if not module.startswith("datasets"):
        return False
    import datasets

    return isinstance(dataset, datasets.Dataset)


def dataloader_kwargs(
    args: Any, batch_size: int, collate_fn: Callable[[list[Any]], Any]
) -> dict[str, Any]:
    """The DataLoader keyword arguments transformers derives from the `dataloader_*` options."""
    return {
        "batch_size": batch_size,
        "collate_fn": collate_fn,
        "num_workers": args.dataloader_num_workers,
        "pin_memory": args.dataloader_pin_memory,
        "persistent_workers": args.dataloader_persistent_workers,
        "multiprocessing_context": getattr(args, "dataloader_multiprocessing_context", None),
        "prefetch_factor": args.dataloader_prefetch_factor,
        "in_order": getattr(args, "dataloader_in_order", True),
    }


def build_dataloader(
    accelerator: Any,
    args: Any,
    dataset: Any,
    batch_size: int,
    collate_fn: Callable[[list[Any]], Any],
    sampler: Sampler[Any] | None,
    is_training: bool,
    worker_init_fn: Callable[..., None] | None = None,
) -> DataLoader[Any]:
    """Build a DataLoader the way transformers does and pass it through `accelerator.prepare`."""
    from trainer_dist.loaders import prepare_dataloader
    from trainer_loop.data.rebalance import BatchRebalanceSampler

    kwargs = dataloader_kwargs(args, batch_size, collate_fn)
    batch_sampler = isinstance(sampler, BatchRebalanceSampler)
    if not isinstance(dataset, IterableDataset):
        if batch_sampler:
            # A batch sampler: exclusive with `batch_size`, `sampler` and `drop_last`.
            del kwargs["batch_size"]
            kwargs["batch_sampler"] = sampler
        else:
            if sampler is not None:
                kwargs["sampler"] = sampler
            kwargs["drop_last"] = args.dataloader_drop_last
        if is_training and worker_init_fn is not None:
            kwargs["worker_init_fn"] = worker_init_fn
    loader: DataLoader[Any] = DataLoader(dataset, **kwargs)
    return prepare_dataloader(accelerator, loader, sampler if batch_sampler else None)
