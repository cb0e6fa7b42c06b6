"""Which optimizer `TrainingArguments.optim` means, and building it as the Trainer does.

`get_optimizer_cls_and_kwargs` looks the name up in `OPTIMIZER_HANDLERS`: the ones
plain torch provides are here, those needing another package live in
`optional_optimizers` and say which package to install when it is missing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from trainer_args import FieldError
from trainer_loop.adafactor import Adafactor
from trainer_loop.optimizer_context import (
    OptimizerContext,
    OptimizerHandler,
    OptimizerUnavailableError,
    optim_value,
    parse_optim_args,
)
from trainer_loop.optional_optimizers import OPTIONAL_OPTIMIZERS, optional_optimizer_installed

__all__ = [
    "OPTIMIZER_HANDLERS",
    "TORCH_OPTIMIZERS",
    "OptimizerContext",
    "OptimizerUnavailableError",
    "available_optimizers",
    "create_optimizer",
    "get_decay_parameter_names",
    "get_optimizer_cls_and_kwargs",
    "get_parameter_names",
    "is_optimizer_factory",
    "optim_value",
    "parse_optim_args",
]


def _truthy(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _adafactor(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    # The Trainer drives the lr, so Adafactor's own relative step and scaling are off.
    ctx.optimizer_kwargs.update({"scale_parameter": False, "relative_step": False})
    return Adafactor, ctx.optimizer_kwargs


def _adamw_torch(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    ctx.optimizer_kwargs.update(ctx.adam_kwargs)
    if optim_value(ctx.args.optim) == "adamw_torch_fused":
        ctx.optimizer_kwargs.update({"fused": True})
    return torch.optim.AdamW, ctx.optimizer_kwargs


def _with_float_options(
    ctx: OptimizerContext, floats: tuple[str, ...], flag: str | None
) -> dict[str, Any]:
    kwargs = ctx.optimizer_kwargs.copy()
    for key in floats:
        if key in ctx.optim_args:
            kwargs[key] = float(ctx.optim_args[key])
    if flag is not None and flag in ctx.optim_args:
        kwargs[flag] = _truthy(ctx.optim_args[flag])
    return kwargs


def _sgd(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    return torch.optim.SGD, _with_float_options(
        ctx, ("momentum", "dampening", "weight_decay"), "nesterov"
    )


def _adagrad(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    return torch.optim.Adagrad, _with_float_options(ctx, ("lr_decay", "weight_decay", "eps"), None)


def _rmsprop(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    options = ("momentum", "alpha", "eps", "weight_decay")
    return torch.optim.RMSprop, _with_float_options(ctx, options, "centered")


TORCH_OPTIMIZERS: dict[str, OptimizerHandler] = {
    "adamw_torch": _adamw_torch,
    "adamw_torch_fused": _adamw_torch,
    "adafactor": _adafactor,
    "sgd": _sgd,
    "adagrad": _adagrad,
    "rmsprop": _rmsprop,
}


OPTIMIZER_HANDLERS: dict[str, OptimizerHandler] = {**TORCH_OPTIMIZERS, **OPTIONAL_OPTIMIZERS}


def available_optimizers() -> list[str]:
    """Every `optim` value that can be built in this environment."""
    return [
        n for n in OPTIMIZER_HANDLERS if n in TORCH_OPTIMIZERS or optional_optimizer_installed(n)
    ]


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


def _grouped_parameters(
    model: nn.Module, weight_decay: float, decay_names: Iterable[str]
) -> list[dict[str, Any]]:
    decay = set(decay_names)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if n in decay], "weight_decay": weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]


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


def create_optimizer(
    model: nn.Module,
    args: Any,
    optimizer_cls_and_kwargs: tuple[Any, dict[str, Any]] | None = None,
    *,
    decay_parameter_names: Callable[[nn.Module], list[str]] = get_decay_parameter_names,
    optimizer_cls_and_kwargs_for: Callable[
        ..., tuple[Any, dict[str, Any]]
    ] = get_optimizer_cls_and_kwargs,
) -> torch.optim.Optimizer:
    """The Trainer's default optimizer: a decay group (`args.weight_decay`) and a no-decay group (0.0).

    Only parameters with `requires_grad` are included, in `named_parameters()` order.
    `optimizer_cls_and_kwargs` replaces the lookup of `args.optim` (kwargs used as given,
    `args.learning_rate` not added). Handlers may replace the groups with `params`, `model`
    (LOMO) or `optimizer_dict` (layer-wise) entries in the kwargs. The Trainer passes its
    own (overridable) methods as `decay_parameter_names` / `optimizer_cls_and_kwargs_for`.
    """
    groups: Any = _grouped_parameters(model, args.weight_decay, decay_parameter_names(model))
    groups = _split_by_device_mesh(groups)
    if optimizer_cls_and_kwargs is not None:
        optimizer_cls, optimizer_kwargs = optimizer_cls_and_kwargs
    else:
        optimizer_cls, optimizer_kwargs = optimizer_cls_and_kwargs_for(args, model)
    if is_optimizer_factory(optimizer_cls):
        optimizer: torch.optim.Optimizer = optimizer_cls()(model, **optimizer_kwargs)
        return optimizer
    optimizer_kwargs = dict(
        optimizer_kwargs
    )  # the caller's tuple may be reused on the next train()
    for key in ("params", "model", "optimizer_dict"):
        if key in optimizer_kwargs:
            groups = optimizer_kwargs.pop(key)
    optimizer = optimizer_cls(groups, **optimizer_kwargs)
    if "bitsandbytes" in str(optimizer_cls) and optimizer_kwargs.get("optim_bits") == 8:
        from trainer_loop.optional_optimizers import keep_embeddings_in_fp32

        keep_embeddings_in_fp32(model)
    return optimizer
