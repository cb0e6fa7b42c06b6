"""The optimizers plain torch provides (and Adafactor), as `optim` names them.

Each handler turns an `OptimizerContext` into `(optimizer class, kwargs)`, as transformers'
`get_optimizer_cls_and_kwargs` does for the same name.
"""

from __future__ import annotations

from typing import Any

import torch

from trainer_args.truth import OPTIM_ARGS, parse_truth
from trainer_loop.optim.adafactor import Adafactor
from trainer_loop.optim.context import OptimizerContext, OptimizerHandler, optim_value

__all__ = ["TORCH_OPTIMIZERS"]


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
        kwargs[flag] = parse_truth(ctx.optim_args[flag], OPTIM_ARGS) is True
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
