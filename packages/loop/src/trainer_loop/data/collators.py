"""Collators: transformers' `default_data_collator`, unused-column removal, padding with a tokenizer.

Same behaviour as transformers 5.x' `default_data_collator`, `RemoveColumnsCollator` and
`DataCollatorWithPadding` (the Trainer's default when it is given a tokenizer).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = [
    "PaddingCollator",
    "RemoveColumnsCollator",
    "default_data_collator",
    "ensure_mapping",
    "pads_itself",
    "remove_unused_columns",
    "signature_columns",
]


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
    if type(batch) is not dict and not isinstance(batch, Mapping):  # the ABC check is slower
        raise TypeError(
            f"The batch given to the model is a {type(batch).__name__}, but the Trainer passes batches as "
            "`model(**batch)`, so the data collator must return a mapping (e.g. a dict) from the model's forward "
            "argument names to tensors. Fix the data collator, or override `compute_loss`/`prediction_step` to "
            "handle this batch type."
        )
    return batch


# ---------------------------------------------------------------------------------------------


def pads_itself(processing_class: Any) -> bool:
    """A tokenizer or sequence feature extractor (transformers' DataCollatorWithPadding cases).

    Processors (which hold a `.tokenizer`) and image processors get `default_data_collator`.
    """
    if processing_class is None or not callable(getattr(processing_class, "pad", None)):
        return False
    if hasattr(processing_class, "tokenizer"):
        return False
    return hasattr(processing_class, "pad_token_id") or hasattr(processing_class, "padding_value")


class PaddingCollator:
    """`DataCollatorWithPadding(tokenizer)`: `tokenizer.pad(features, return_tensors="pt")`, labels renamed."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = dict(self.tokenizer.pad(features, padding=True, return_tensors="pt"))
        for old in ("label", "label_ids"):
            if old in batch:
                batch["labels"] = batch.pop(old)
        return batch
