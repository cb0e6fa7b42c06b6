"""Data handling for the Trainer: collation, unused-column removal, samplers and dataloaders.

Everything here follows `transformers` 5.x behaviour (`default_data_collator`,
`RemoveColumnsCollator`, `LengthGroupedSampler`, the sampler choice per
`train_sampling_strategy`, the DataLoader keyword arguments), written as plain
functions that take what they need so the `Trainer` facade stays thin.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, Sampler, SequentialSampler

from trainer_loop.samplers import BatchRebalanceSampler
from trainer_loop.step_plan import distributed_kind

logger = logging.getLogger(__name__)

__all__ = [
    "LengthGroupedSampler",
    "RemoveColumnsCollator",
    "build_dataloader",
    "default_data_collator",
    "ensure_mapping",
    "eval_sampler",
    "find_batch_size",
    "get_length_grouped_indices",
    "has_length",
    "is_datasets_dataset",
    "prepare_input",
    "remove_unused_columns",
    "signature_columns",
    "train_sampler",
]


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


# ---------------------------------------------------------------------------------------------
# Collation
# ---------------------------------------------------------------------------------------------


def _label_dtype(value: Any) -> torch.dtype:
    return torch.long if isinstance(value, (int, np.integer)) else torch.float


def default_data_collator(features: Sequence[Any], return_tensors: str = "pt") -> dict[str, Any]:
    """Stack a list of dict-like (or attribute) features into a batch of tensors.

    `label` (one number per example) and `label_ids` (a list per example) become `labels`;
    other keys are stacked (tensors), stacked then converted (numpy arrays) or turned into
    tensors (numbers and lists). Strings and None values are dropped. Same as transformers'.
    """
    if return_tensors != "pt":
        raise ValueError(
            f"default_data_collator only supports return_tensors='pt', got {return_tensors!r}."
        )
    if not isinstance(features[0], Mapping):
        features = [vars(f) for f in features]
    first = features[0]
    batch: dict[str, Any] = {}

    if "label" in first and first["label"] is not None:
        label = (
            first["label"].item() if isinstance(first["label"], torch.Tensor) else first["label"]
        )
        batch["labels"] = torch.tensor([f["label"] for f in features], dtype=_label_dtype(label))
    elif "label_ids" in first and first["label_ids"] is not None:
        if isinstance(first["label_ids"], torch.Tensor):
            batch["labels"] = torch.stack([f["label_ids"] for f in features])
        else:
            dtype = _label_dtype(first["label_ids"][0])
            batch["labels"] = torch.tensor([f["label_ids"] for f in features], dtype=dtype)

    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        if isinstance(value, torch.Tensor):
            batch[key] = torch.stack([f[key] for f in features])
        elif isinstance(value, np.ndarray):
            batch[key] = torch.from_numpy(np.stack([f[key] for f in features]))
        else:
            batch[key] = torch.tensor([f[key] for f in features])
    return batch


def signature_columns(model: Any, label_names: Sequence[str]) -> list[str]:
    """The keys a batch may keep: the model's forward parameters plus the label keys."""
    model_to_inspect = model
    if hasattr(model, "get_base_model") and hasattr(model, "peft_config"):
        model_to_inspect = model.get_base_model()
    columns = list(inspect.signature(model_to_inspect.forward).parameters.keys())
    # The default collator renames `label`/`label_ids` to `labels`, so those survive too.
    columns += list({"label", "label_ids", *label_names})
    return columns


def _ignored_message(columns: Sequence[str], description: str | None, model_name: str) -> str:
    where = "" if description is None else f"in the {description} set"
    joined = ", ".join(columns)
    return (
        f"The following columns {where} don't have a corresponding argument in `{model_name}.forward` and have "
        f"been ignored: {joined}. If {joined} are not expected by `{model_name}.forward`,  you can safely ignore "
        "this message."
    )


def remove_unused_columns(
    dataset: Any, columns: Sequence[str], description: str | None, model_name: str
) -> Any:
    """Drop the columns of a `datasets.Dataset` that the model's forward does not take."""
    ignored = list(set(dataset.column_names) - set(columns))
    if ignored:
        logger.info(_ignored_message(ignored, description, model_name))
    kept = [k for k in columns if k in dataset.column_names]
    if not kept:
        raise ValueError(
            "No columns in the dataset match the model's forward method signature: "
            f"({', '.join(columns)}). The following columns have been ignored: [{', '.join(ignored)}]. "
            "Please check the dataset and model. You may need to set `remove_unused_columns=False` in "
            "`TrainingArguments`."
        )
    return dataset.remove_columns(ignored)


class RemoveColumnsCollator:
    """Wrap a collator so that dict features lose the keys the model's forward does not take."""

    def __init__(
        self,
        data_collator: Callable[[list[Any]], Any],
        signature_columns: Sequence[str],
        logger: logging.Logger | None = None,
        model_name: str | None = None,
        description: str | None = None,
    ) -> None:
        self.data_collator = data_collator
        self.signature_columns = signature_columns
        self._keep = frozenset(signature_columns)
        self.logger = logger
        self.model_name = model_name
        self.description = description
        self.message_logged = False

    def _remove_columns(self, feature: Any) -> Any:
        if not isinstance(feature, dict):
            return feature
        if feature.keys() <= self._keep:
            # Nothing to drop (the usual case): a C-level copy instead of a filtered comprehension.
            return dict(feature)
        if not self.message_logged and self.logger and self.model_name:
            ignored = list(set(feature.keys()) - self._keep)
            self.logger.info(_ignored_message(ignored, self.description, self.model_name))
            self.message_logged = True
        return {k: v for k, v in feature.items() if k in self._keep}

    def __call__(self, features: list[Any]) -> Any:
        keep = self._keep
        if self.data_collator is default_data_collator and features and type(features[0]) is dict:
            # The default collator reads only the first feature's keys (the others are indexed
            # by them) and never mutates a feature: filtering the first one is enough, and no
            # copy is needed to protect the dataset's items.
            first = features[0]
            if first.keys() <= keep:
                return default_data_collator(features)
            return default_data_collator([self._remove_columns(first), *features[1:]])
        # The usual case, plain dicts with nothing to drop: copies without a method call per feature.
        copies = [dict(f) for f in features if type(f) is dict and f.keys() <= keep]
        if len(copies) == len(features):
            return self.data_collator(copies)
        return self.data_collator([self._remove_columns(f) for f in features])


def ensure_mapping(batch: Any) -> Mapping[str, Any]:
    """Fail clearly when a batch is not a mapping: the default loop calls `model(**batch)`."""
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"The batch given to the model is a {type(batch).__name__}, but the Trainer passes batches as "
            "`model(**batch)`, so the data collator must return a mapping (e.g. a dict) from the model's forward "
            "argument names to tensors. Fix the data collator, or override `compute_loss`/`prediction_step` to "
            "handle this batch type."
        )
    return batch


# ---------------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------------


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
# DataLoader
# ---------------------------------------------------------------------------------------------


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
    kwargs = dataloader_kwargs(args, batch_size, collate_fn)
    if not isinstance(dataset, IterableDataset):
        if isinstance(sampler, BatchRebalanceSampler):
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
    # (accelerate refuses an explicit `device_placement` under DeepSpeed: only pass the opt-out.)
    placement = None if _places_batches(accelerator, dataset) else [False]
    prepared = accelerator.prepare(loader, device_placement=placement)
    if isinstance(sampler, BatchRebalanceSampler):
        _unshard(prepared, sampler)
    return prepared


def _places_batches(accelerator: Any, dataset: Any) -> bool:
    """Whether accelerate's DataLoader should move each batch to the device.

    On the CPU the batches are already there and the Trainer's `_prepare_inputs` places
    inputs anyway: accelerate's per-batch walk of `send_to_device` would be pure overhead.
    On accelerators it stays on: the copy is issued one batch ahead, overlapping compute.
    It also stays on where accelerate ties more than placement to it: an iterable dataset
    (whose batches it then dispatches from the main process) and `dispatch_batches`.
    """
    kind = distributed_kind(accelerator)
    config = getattr(accelerator, "dataloader_config", None)
    return (
        accelerator.device.type != "cpu"
        or kind in ("DEEPSPEED", "MEGATRON_LM", "FSDP")
        or isinstance(dataset, IterableDataset)
        or bool(getattr(config, "dispatch_batches", None))
    )


def _unshard(loader: Any, sampler: BatchRebalanceSampler) -> None:
    """Make accelerate's BatchSamplerShard a passthrough around an already rank-aware sampler.

    `BatchRebalanceSampler` yields only this rank's micro-batches; sharding them again across
    processes would silently drop examples (transformers does the same).
    """
    shard = getattr(loader, "batch_sampler", None)
    if shard is not None and getattr(shard, "batch_sampler", None) is sampler:
        shard.num_processes = 1
        shard.process_index = 0


# ---------------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------------


def _rebuild(mapping: Mapping[str, Any], values: dict[str, Any]) -> Any:
    """A mapping of the same type (dict, BatchEncoding, ...) holding `values`."""
    cls: Any = type(mapping)
    return cls(values)


def prepare_input(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move a (nested) batch to `device`, keeping container types."""
    if type(data) is dict:
        # The usual batch, a plain dict of tensors: one pass without a call per value.
        return {
            k: v
            if isinstance(v, torch.Tensor) and v.device == device
            else prepare_input(v, device, non_blocking)
            for k, v in data.items()
        }
    if isinstance(data, Mapping):
        return _rebuild(data, {k: prepare_input(v, device, non_blocking) for k, v in data.items()})
    if isinstance(data, (tuple, list)):
        return type(data)(prepare_input(v, device, non_blocking) for v in data)
    if isinstance(data, torch.Tensor):
        if data.device == device:
            return data
        return data.to(device=device, non_blocking=non_blocking)
    return data


def find_batch_size(tensors: Any) -> int | None:
    """The first dimension of the first tensor found in a nested batch."""
    if isinstance(tensors, (list, tuple)):
        for t in tensors:
            result = find_batch_size(t)
            if result is not None:
                return result
    elif isinstance(tensors, Mapping):
        for value in tensors.values():
            result = find_batch_size(value)
            if result is not None:
                return result
    elif isinstance(tensors, (torch.Tensor, np.ndarray)):
        return tensors.shape[0] if len(tensors.shape) >= 1 else None
    return None
