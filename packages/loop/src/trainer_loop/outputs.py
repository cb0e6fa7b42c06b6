"""Result containers: what evaluation, prediction and training return, and `ModelOutput`.

`EvalPrediction` and the NamedTuples have the same fields and behaviour as their
`transformers` namesakes, so `compute_metrics` functions and user code keep working.
`ModelOutput` is a small stand-in for `transformers.utils.ModelOutput` that plain-torch
models can return: a dict that also answers attribute and tuple-style access.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

__all__ = [
    "BestRun",
    "EvalLoopOutput",
    "EvalPrediction",
    "ModelOutput",
    "PredictionOutput",
    "TrainOutput",
]


class EvalPrediction:
    """What `compute_metrics` receives: predictions and labels, plus inputs/losses when asked for.

    Iterating or indexing walks over `(predictions, label_ids[, inputs][, losses])`: the two
    optional extras are only present when they are not None, so `preds, labels = p` keeps
    working whatever `include_for_metrics` says. Negative or too large indices raise IndexError.
    """

    def __init__(
        self,
        predictions: Any,
        label_ids: Any,
        inputs: Any | None = None,
        losses: Any | None = None,
    ) -> None:
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        elements: tuple[Any, ...] = (predictions, label_ids)
        if inputs is not None:
            elements += (inputs,)
        if losses is not None:
            elements += (losses,)
        self.elements = elements

    def __iter__(self) -> Iterator[Any]:
        return iter(self.elements)

    def __getitem__(self, idx: int) -> Any:
        # Negative indices are rejected on purpose, as transformers does.
        if idx < 0 or idx >= len(self.elements):
            raise IndexError("tuple index out of range")
        return self.elements[idx]


class EvalLoopOutput(NamedTuple):
    """What the evaluation loop returns (arrays are numpy arrays or nested tuples of them)."""

    predictions: Any
    label_ids: Any | None
    metrics: dict[str, float] | None
    num_samples: int | None


class PredictionOutput(NamedTuple):
    """What `Trainer.predict` returns."""

    predictions: Any
    label_ids: Any | None
    metrics: dict[str, float] | None


class TrainOutput(NamedTuple):
    """What `Trainer.train` returns."""

    global_step: int
    training_loss: float
    metrics: dict[str, float]


class BestRun(NamedTuple):
    """The best run of a hyperparameter search."""

    run_id: str
    objective: float | list[float]
    hyperparameters: dict[str, Any]
    run_summary: Any | None = None


def _flatten(output: ModelOutput) -> tuple[list[Any], list[str]]:
    return list(output.values()), list(output.keys())


def _unflatten(values: Any, context: list[str], output_type: type[ModelOutput]) -> ModelOutput:
    return output_type(**dict(zip(context, values)))


_REGISTERED: set[type] = set()


def _register_pytree_node(cls: type[ModelOutput]) -> None:
    """Let torch (DDP with static_graph, torch.compile) see through outputs like tuples.

    Done when the first instance of a class is built, so importing this module needs no torch.
    """
    if cls in _REGISTERED:
        return
    _REGISTERED.add(cls)
    from torch.utils import _pytree

    if cls in _pytree.SUPPORTED_NODES:
        return
    _pytree.register_pytree_node(
        cls,
        _flatten,
        functools.partial(_unflatten, output_type=cls),
        serialized_type_name=f"{cls.__module__}.{cls.__qualname__}",
    )


def _is_tensor_like(value: Any) -> bool:
    # Duck-typed so this module needs neither torch nor numpy at import time.
    return hasattr(value, "shape") and hasattr(value, "dtype")


class ModelOutput(OrderedDict):  # type: ignore[type-arg]
    """A dict of model outputs that also behaves like an object and like a tuple.

    Use it directly (`ModelOutput(loss=loss, logits=logits)`) or as the base of a dataclass:

    ```python
    import dataclasses

    import torch
    from trainer import ModelOutput


    @dataclasses.dataclass
    class MyOutput(ModelOutput):
        loss: torch.Tensor | None = None
        logits: torch.Tensor | None = None
    ```

    Fields that are None are not stored in the dict, so they are skipped by `keys()`,
    `to_tuple()` and integer/slice indexing: `out[0]` is the loss only when a loss was set.
    `out["loss"]`, `out.loss`, `"loss" in out` and `out.get("loss")` all work.
    Building an instance from a mapping (`MyOutput({"loss": l})`, as accelerate does when it
    moves outputs between devices) fills the fields by name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Only reached for ModelOutput itself or non-dataclass subclasses: a dataclass
        # subclass gets its own generated __init__, which assigns attributes one by one.
        super().__init__()
        _register_pytree_node(type(self))
        for key, value in dict(*args, **kwargs).items():
            if value is not None:
                self[key] = value

    def __post_init__(self) -> None:
        _register_pytree_node(type(self))
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        if not fields:
            return
        first = getattr(self, fields[0].name)
        others_none = all(getattr(self, f.name) is None for f in fields[1:])
        if others_none and isinstance(first, Mapping) and not _is_tensor_like(first):
            # Rebuilt from a mapping (e.g. accelerate's `type(out)(dict)`): spread it by name.
            self._spread_mapping(fields[0].name, first)

    def _spread_mapping(self, first_name: str, mapping: Mapping[str, Any]) -> None:
        object.__setattr__(self, first_name, None)
        OrderedDict.pop(self, first_name, None)
        for key, value in mapping.items():
            setattr(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            self._store(name, value)
        object.__setattr__(self, name, value)

    def __setitem__(self, key: str, value: Any) -> None:
        self._store(key, value)
        object.__setattr__(self, key, value)

    def _store(self, key: str, value: Any) -> None:
        # A None value means "not produced": keep it out of the dict (and the tuple view).
        if value is None:
            OrderedDict.pop(self, key, None)
        else:
            OrderedDict.__setitem__(self, key, value)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return OrderedDict.__getitem__(self, key)
        return self.to_tuple()[key]

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: e.g. after a copy that restored the dict only.
        if not name.startswith("__"):
            try:
                return OrderedDict.__getitem__(self, name)
            except KeyError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"You cannot use `__delitem__` on a {type(self).__name__} instance.")

    def setdefault(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: raises TypeError (as transformers' ModelOutput does)."""
        raise TypeError(f"You cannot use `setdefault` on a {type(self).__name__} instance.")

    def pop(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: raises TypeError; set a field to None to leave it out instead."""
        raise TypeError(f"You cannot use `pop` on a {type(self).__name__} instance.")

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: raises TypeError; assign fields one by one (`out.loss = ...`)."""
        raise TypeError(f"You cannot use `update` on a {type(self).__name__} instance.")

    def to_tuple(self) -> tuple[Any, ...]:
        """The values that are not None, in field (or insertion) order."""
        return tuple(OrderedDict.__getitem__(self, k) for k in self.keys())

    def __reduce__(self) -> Any:
        # Pickle/copy through the mapping constructor, which every subclass accepts.
        return (type(self), (dict(self.items()),))
