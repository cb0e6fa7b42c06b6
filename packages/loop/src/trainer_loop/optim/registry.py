"""Which optimizer `TrainingArguments.optim` means, and building it as the Trainer does.

`get_optimizer_cls_and_kwargs` looks the name up in `OPTIMIZER_HANDLERS`: the ones plain
torch provides are in `builtin`, those needing another package in `optional`, which says
which package to install when it is missing. To add an optimizer, add a handler there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from trainer_args import FieldError
from trainer_loop.optim.builtin import TORCH_OPTIMIZERS
from trainer_loop.optim.context import (
    OptimizerContext,
    OptimizerHandler,
    OptimizerUnavailableError,
    optim_value,
    parse_optim_args,
)
from trainer_loop.optim.optional import OPTIONAL_OPTIMIZERS, available_optimizers

__all__ = [
    "OPTIMIZER_HANDLERS",
    "build_optimizer",
    "create_optimizer",
    "get_decay_parameter_names",
    "get_optimizer_cls_and_kwargs",
    "get_parameter_names",
    "is_optimizer_factory",
    "param_groups",
]


OPTIMIZER_HANDLERS: dict[str, OptimizerHandler] = {**TORCH_OPTIMIZERS, **OPTIONAL_OPTIMIZERS}


def get_optimizer_cls_and_kwargs(
    args: Any, model: nn.Module | None = None
) -> tuple[Any, dict[str, Any]]:
    """The optimizer class (or factory) and its kwargs for `args.optim`, as the Trainer builds them.

    kwargs start from `lr=args.learning_rate` (plus betas/eps for Adam-type optimizers)
    and `args.optim_args` (`"k=v,k2=v2"`) as each optimizer accepts it. `model` is needed
    by GaLore, APOLLO and LOMO.
    """
    name = optim_value(args.optim)
    handler = OPTIMIZER_HANDLERS.get(name)
    if handler is None:
        raise OptimizerUnavailableError(
            FieldError(
                "optim", name, "is not an optimizer the Trainer can build", available_optimizers()
            )
        )
    ctx = OptimizerContext(
        args=args,
        model=model,
        optimizer_kwargs={"lr": args.learning_rate},
        adam_kwargs={"betas": (args.adam_beta1, args.adam_beta2), "eps": args.adam_epsilon},
        optim_args=parse_optim_args(args.optim_args),
    )
    return handler(ctx)


# Parameters of these never get weight decay; transformers matches them on the lowercased full name.
NO_DECAY_NAME_PATTERNS = (
    r"bias",
    r"layernorm",
    r"rmsnorm",
    r"(?:^|\.)norm(?:$|\.)",
    r"_norm(?:$|\.)",
)


def get_parameter_names(
    model: nn.Module,
    forbidden_layer_types: Iterable[type[nn.Module]],
    forbidden_layer_names: Iterable[str] | None = None,
) -> list[str]:
    """Names of `model`'s parameters outside the forbidden layer types and name patterns.

    Walks the children first and the module's own parameters last, so the order is
    transformers' (not always `named_parameters()` order).
    """
    types = tuple(forbidden_layer_types)
    patterns = [re.compile(p) for p in (forbidden_layer_names or [])]
    return _parameter_names(model, types, patterns)


def _parameter_names(
    model: nn.Module, types: tuple[type, ...], patterns: list[re.Pattern[str]]
) -> list[str]:
    result = []
    for name, child in model.named_children():
        for sub in _parameter_names(child, types, patterns):
            full = f"{name}.{sub}"
            if not isinstance(child, types) and not any(p.search(full.lower()) for p in patterns):
                result.append(full)
    result += [k for k in model._parameters if not any(p.search(k.lower()) for p in patterns)]
    return result


def get_decay_parameter_names(model: nn.Module) -> list[str]:
    """Parameters that get weight decay: all but biases and normalisation weights.

    As transformers 5.x: anything inside an `nn.LayerNorm`, and any name matching
    `bias`, `layernorm`, `rmsnorm`, `norm` as a path component, or ending a component in `_norm`.
    """
    return get_parameter_names(model, [nn.LayerNorm], NO_DECAY_NAME_PATTERNS)


def is_optimizer_factory(optimizer_cls_or_factory: Any) -> bool:
    """True unless this is an Optimizer subclass: factories are called as `factory()(model, **kwargs)`."""
    is_class = isinstance(optimizer_cls_or_factory, type)
    return not (is_class and issubclass(optimizer_cls_or_factory, torch.optim.Optimizer))


def param_groups(
    model: nn.Module, weight_decay: float, decay_names: Iterable[str]
) -> list[dict[str, Any]]:
    """The Trainer's default groups: `decay_names` with `weight_decay`, the rest with 0.0.

    Only parameters with `requires_grad`, in `named_parameters()` order; split further by
    device mesh when DTensor parameters live on several.
    """
    decay = set(decay_names)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    return _split_by_device_mesh(groups)


def _split_by_device_mesh(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per device mesh: a fused/foreach kernel cannot span DTensors on different meshes."""
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed support: no DTensors exist
        return groups
    meshes = {
        p.device_mesh if isinstance(p, DTensor) else None for g in groups for p in g["params"]
    }
    if len(meshes) <= 1:
        return groups
    split: list[dict[str, Any]] = []
    for group in groups:
        by_mesh: dict[Any, list[torch.Tensor]] = defaultdict(list)
        for p in group["params"]:
            by_mesh[p.device_mesh if isinstance(p, DTensor) else None].append(p)
        split.extend({**group, "params": params} for params in by_mesh.values())
    return split


def build_optimizer(
    optimizer_cls: Any, optimizer_kwargs: dict[str, Any], groups: Any, model: nn.Module
) -> torch.optim.Optimizer:
    """`optimizer_cls(groups, **optimizer_kwargs)`, as the Trainer builds it.

    A factory (not an Optimizer subclass) is called as `optimizer_cls()(model, **kwargs)`.
    Handlers may replace the groups with `params`, `model` (LOMO) or `optimizer_dict`
    (layer-wise) entries in the kwargs. The kwargs are copied: a caller's
    `optimizer_cls_and_kwargs` is reused on the next `train()`.
    """
    if is_optimizer_factory(optimizer_cls):
        optimizer: torch.optim.Optimizer = optimizer_cls()(model, **optimizer_kwargs)
        return optimizer
    optimizer_kwargs = dict(optimizer_kwargs)
    for key in ("params", "model", "optimizer_dict"):
        if key in optimizer_kwargs:
            groups = optimizer_kwargs.pop(key)
    optimizer = optimizer_cls(groups, **optimizer_kwargs)
    if "bitsandbytes" in str(optimizer_cls) and optimizer_kwargs.get("optim_bits") == 8:
        from trainer_loop.optim.optional import keep_embeddings_in_fp32

        keep_embeddings_in_fp32(model)
    return optimizer


def create_optimizer(
    model: nn.Module, args: Any, optimizer_cls_and_kwargs: tuple[Any, dict[str, Any]] | None = None
) -> torch.optim.Optimizer:
    """The Trainer's default optimizer for `model` and `args`, outside a Trainer.

    A decay group (`args.weight_decay`) and a no-decay group (0.0); the class and kwargs
    from `args.optim`, or `optimizer_cls_and_kwargs` used as given. `Trainer.create_optimizer`
    does the same through its overridable hooks.
    """
    groups = param_groups(model, args.weight_decay, get_decay_parameter_names(model))
    if optimizer_cls_and_kwargs is None:
        optimizer_cls_and_kwargs = get_optimizer_cls_and_kwargs(args, model)
    optimizer_cls, kwargs = optimizer_cls_and_kwargs
    return build_optimizer(optimizer_cls, kwargs, groups, model)
