"""DataLoaders through accelerate: preparing, sharding a rank-aware batch sampler, skipping.

The training loop builds plain torch DataLoaders; everything accelerate does to them (its
sharding wrappers, batch placement, skipping already-seen batches on resume) goes through
these functions, so `trainer_loop` never touches accelerate's classes or their fields.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader, IterableDataset

from trainer_dist.step_plan import distributed_kind

__all__ = ["prepare_dataloader", "set_epoch", "skip_first_batches"]


def _places_batches(accelerator: Any, dataset: Any) -> bool:
    """Whether accelerate's DataLoader should move each batch to the device.

    On the CPU the batches are already there and the Trainer's `_prepare_inputs` places
    inputs anyway: accelerate's per-batch walk of `send_to_device` would be pure overhead.
    On accelerators it stays on: the copy is issued one batch ahead, overlapping compute.
    It also stays on where accelerate ties more than placement to it: an iterable dataset
    (whose batches it then dispatches from the main process) and `dispatch_batches`.
    """
    config = getattr(accelerator, "dataloader_config", None)
    return (
        accelerator.device.type != "cpu"
        or distributed_kind(accelerator) in ("DEEPSPEED", "MEGATRON_LM", "FSDP")
        or isinstance(dataset, IterableDataset)
        or bool(getattr(config, "dispatch_batches", None))
    )


def prepare_dataloader(
    accelerator: Any, loader: DataLoader[Any], rank_aware_batch_sampler: Any = None
) -> DataLoader[Any]:
    """`accelerator.prepare(loader)`, without per-batch placement where it is pure overhead.

    `rank_aware_batch_sampler`: a batch sampler that already yields only this rank's batches
    (`BatchRebalanceSampler`); accelerate's shard wrapper around it is made a passthrough, as
    sharding those batches again would silently drop examples (transformers does the same).
    """
    # (accelerate refuses an explicit `device_placement` under DeepSpeed: only pass the opt-out.)
    placement = None if _places_batches(accelerator, loader.dataset) else [False]
    prepared = accelerator.prepare(loader, device_placement=placement)
    shard: Any = getattr(prepared, "batch_sampler", None)
    wrapped = getattr(shard, "batch_sampler", None)
    if rank_aware_batch_sampler is not None and wrapped is rank_aware_batch_sampler:
        shard.num_processes = 1
        shard.process_index = 0
    return prepared  # type: ignore[no-any-return]


def skip_first_batches(loader: Any, num_batches: int) -> Any:
    """The loader without its first `num_batches` batches (resuming mid-epoch)."""
    from accelerate import skip_first_batches as skip

    return skip(loader, num_batches)


def set_epoch(loader: Any, epoch: int) -> None:
    """Reseed the loader's shuffling for `epoch`, the batch sampler under accelerate's wrapper too.

    accelerate's `DataLoaderShard.set_epoch` does not reach a batch sampler wrapped in its
    `BatchSamplerShard`, so it is reached explicitly.
    """
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    underlying: Any = getattr(getattr(loader, "batch_sampler", None), "batch_sampler", None)
    if hasattr(underlying, "set_epoch"):
        underlying.set_epoch(epoch)
