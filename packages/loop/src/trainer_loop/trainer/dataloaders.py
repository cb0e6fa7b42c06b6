"""Data: the Trainer's DataLoaders, samplers, unused-column removal and input placement."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, IterableDataset

from trainer_loop.data import batches, collators, samplers
from trainer_loop.data.loaders import build_dataloader, is_datasets_dataset
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["DataMixin"]


class DataMixin(TrainerAttributes):
    """`get_*_dataloader` and what they call; `_prepare_inputs` for every step."""

    def get_train_dataloader(self: Trainer) -> DataLoader[Any]:
        """The training DataLoader (sampler per `train_sampling_strategy`), prepared by accelerate."""
        if self.train_dataset is None:
            raise ValueError("Trainer: training requires a train_dataset.")
        return self._get_dataloader(
            self.train_dataset,
            "Training",
            self._train_batch_size,
            self._get_train_sampler,
            is_training=True,
        )

    def get_eval_dataloader(self: Trainer, eval_dataset: Any = None) -> DataLoader[Any]:
        """The evaluation DataLoader; a str selects `self.eval_dataset[name]`."""
        if eval_dataset is None and self.eval_dataset is None:
            raise ValueError("Trainer: evaluation requires an eval_dataset.")
        key = eval_dataset if isinstance(eval_dataset, str) else "eval"
        cache = getattr(self, "_eval_dataloaders", None)
        if cache is not None and key in cache and self.args.dataloader_persistent_workers:
            return cache[key]  # type: ignore[no-any-return]
        if isinstance(eval_dataset, str):
            dataset = self.eval_dataset[eval_dataset]
        else:
            dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        return self._get_dataloader(
            dataset,
            "Evaluation",
            self.args.eval_batch_size,
            self._get_eval_sampler,
            dataloader_key=key,
        )

    def get_test_dataloader(self: Trainer, test_dataset: Any) -> DataLoader[Any]:
        """The prediction DataLoader."""
        return self._get_dataloader(
            test_dataset, "test", self.args.eval_batch_size, self._get_eval_sampler
        )

    def _get_dataloader(
        self: Trainer,
        dataset: Any,
        description: str,
        batch_size: int,
        sampler_fn: Callable[[Any], Any] | None = None,
        is_training: bool = False,
        dataloader_key: str | None = None,
    ) -> DataLoader[Any]:
        collator = self.data_collator
        if is_datasets_dataset(dataset):
            dataset = self._remove_unused_columns(dataset, description=description)
        else:
            collator = self._get_collator_with_removed_columns(collator, description=description)
        sampler = None
        if not isinstance(dataset, IterableDataset) and sampler_fn is not None:
            sampler = sampler_fn(dataset)
        worker_init_fn = None
        if is_training:
            from trainer_dist.seeding import seed_worker

            worker_init_fn = functools.partial(
                seed_worker,
                num_workers=self.args.dataloader_num_workers,
                rank=self.args.process_index,
            )
        loader = build_dataloader(
            self.accelerator,
            self.args,
            dataset,
            batch_size,
            collator,
            sampler,
            is_training,
            worker_init_fn,
        )
        if dataloader_key is not None and self.args.dataloader_persistent_workers:
            if not hasattr(self, "_eval_dataloaders"):
                self._eval_dataloaders: dict[str, DataLoader[Any]] = {}
            self._eval_dataloaders[dataloader_key] = loader
        return loader

    def _get_train_sampler(self: Trainer, train_dataset: Any = None) -> Any:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        return samplers.train_sampler(self.args, dataset, self.processing_class)

    def _get_eval_sampler(self: Trainer, eval_dataset: Any) -> Any:
        return samplers.eval_sampler(self.args, eval_dataset, self.processing_class)

    def get_resumed_dataloader(self: Trainer, train_dataloader: Any, num_batches: int) -> Any:
        """The training DataLoader without the `num_batches` batches a resumed epoch already saw."""
        from trainer_dist.loaders import skip_first_batches

        return skip_first_batches(train_dataloader, num_batches)

    # ---- columns ----------------------------------------------------------------------------

    def _set_signature_columns_if_needed(self: Trainer) -> None:
        if self._signature_columns is None:
            self._signature_columns = collators.signature_columns(self.model, self.label_names)

    def _remove_unused_columns(self: Trainer, dataset: Any, description: str | None = None) -> Any:
        if not self.args.remove_unused_columns:
            return dataset
        self._set_signature_columns_if_needed()
        assert self._signature_columns is not None
        return collators.remove_unused_columns(
            dataset, self._signature_columns, description, type(self.model).__name__
        )

    def _get_collator_with_removed_columns(
        self: Trainer, data_collator: Callable[[list[Any]], Any], description: str | None = None
    ) -> Callable[[list[Any]], Any]:
        if not self.args.remove_unused_columns:
            return data_collator
        self._set_signature_columns_if_needed()
        assert self._signature_columns is not None
        return collators.RemoveColumnsCollator(
            data_collator, self._signature_columns, logger, type(self.model).__name__, description
        )

    def num_examples(self: Trainer, dataloader: DataLoader[Any]) -> int:
        """Examples in the dataloader's dataset; estimated from its length when unsized."""
        try:
            dataset = dataloader.dataset
            inner = getattr(dataset, "dataset", None)
            if type(dataset).__name__ == "IterableDatasetShard" and inner is not None:
                return len(inner)
            return len(dataset)  # type: ignore[arg-type]
        except (NameError, AttributeError, TypeError):
            return len(dataloader) * self.args.per_device_train_batch_size

    # ---- inputs -----------------------------------------------------------------------------

    def _input_placement(self: Trainer) -> tuple[Any, bool]:
        """Where `_prepare_input` puts a batch: the device, and whether copies may be async."""
        args = self.args
        device = args.device
        # Pinned memory makes host-to-device copies asynchronous; CPU tensors need no copy at all.
        return device, bool(args.dataloader_pin_memory) and device.type != "cpu"

    def _prepare_input(self: Trainer, data: Any) -> Any:
        return batches.prepare_input(data, *self._input_placement())

    def _prepare_inputs(self: Trainer, inputs: dict[str, Any]) -> dict[str, Any]:
        inputs = self._prepare_input(inputs)
        if len(inputs) == 0:
            raise self._empty_batch_error()
        return inputs

    def _empty_batch_error(self: Trainer) -> ValueError:
        columns = ",".join(self._signature_columns or [])
        return ValueError(
            "The batch received was empty, your model won't be able to train on it. Double-check that your "
            f"training dataset contains keys expected by the model: {columns}."
        )
