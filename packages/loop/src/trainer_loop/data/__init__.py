"""Data for the Trainer: collators, samplers, DataLoader building and batch movement.

The public names here follow transformers 5.x (`default_data_collator`,
`RemoveColumnsCollator`, `LengthGroupedSampler`); the modules hold one concern each.
"""

from trainer_loop.data.batches import find_batch_size, prepare_input
from trainer_loop.data.collators import (
    PaddingCollator,
    RemoveColumnsCollator,
    default_data_collator,
    ensure_mapping,
    pads_itself,
    remove_unused_columns,
    signature_columns,
)
from trainer_loop.data.loaders import (
    build_dataloader,
    dataloader_kwargs,
    has_length,
    is_datasets_dataset,
)
from trainer_loop.data.rebalance import BatchRebalanceSampler
from trainer_loop.data.samplers import (
    LengthGroupedSampler,
    eval_sampler,
    get_length_grouped_indices,
    train_sampler,
)

__all__ = [
    "BatchRebalanceSampler",
    "LengthGroupedSampler",
    "PaddingCollator",
    "RemoveColumnsCollator",
    "build_dataloader",
    "dataloader_kwargs",
    "default_data_collator",
    "ensure_mapping",
    "eval_sampler",
    "find_batch_size",
    "get_length_grouped_indices",
    "has_length",
    "is_datasets_dataset",
    "pads_itself",
    "prepare_input",
    "remove_unused_columns",
    "signature_columns",
    "train_sampler",
]
