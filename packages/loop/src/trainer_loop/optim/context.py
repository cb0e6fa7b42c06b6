"""What optimizer handlers share: their input, their error, and the `optim`/`optim_args` parsing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from torch import nn

from trainer_args import ValidationError


class OptimizerUnavailableError(ValidationError, ImportError):
    """`optim` names an optimizer that cannot be built here (unknown, or its package is missing).

    A ValueError (bad argument) and an ImportError (missing package), since transformers
    raises one or the other depending on the optimizer.
    """


@dataclass
class OptimizerContext:
    """What every handler gets: the arguments, the model and the kwargs prepared so far."""

    args: Any
    model: nn.Module | None
    optimizer_kwargs: dict[str, Any]
    adam_kwargs: dict[str, Any]
    optim_args: dict[str, str]


OptimizerHandler = Callable[[OptimizerContext], tuple[Any, dict[str, Any]]]


def parse_optim_args(optim_args: str | None) -> dict[str, str]:
    """`"k=v, k2=v2"` -> `{"k": "v", "k2": "v2"}`; spaces dropped, values stay strings."""
    if not optim_args:
        return {}
    parsed = {}
    for mapping in optim_args.replace(" ", "").split(","):
        key, value = mapping.split("=")
        parsed[key] = value
    return parsed


def optim_value(optim: Any) -> str:
    """The plain string of an OptimizerNames member (or of a string)."""
    return str(optim.value if isinstance(optim, Enum) else optim)
