"""GaLore and APOLLO: low-rank optimizers applied to chosen linear layers, as transformers sets them up.

`optim_target_modules` picks the `nn.Linear` layers (names, substrings, regexes or
"all-linear") whose weights get the low-rank projection; every other parameter goes
in a plain group. The `*_layerwise` variants step one optimizer per parameter inside
its gradient hook, behind a no-op `LayerWiseDummyOptimizer`.
"""

from __future__ import annotations

import logging
import re
from types import ModuleType
from typing import Any

import torch
from torch import nn

from trainer_loop.optim.context import OptimizerContext, optim_value
from trainer_loop.schedulers.layerwise import LayerWiseDummyOptimizer

logger = logging.getLogger(__name__)


def check_target_module_exists(targets: str | list[str], key: str) -> tuple[bool, bool]:
    """(does module `key` match `targets`?, was the match a regex?) as transformers decides it."""
    if isinstance(targets, str):
        return bool(re.fullmatch(targets, key)), targets != key
    if key in targets or any(target in key for target in targets):
        return True, False
    if any(re.fullmatch(target, key) for target in targets):
        return True, True
    return False, False


def _target_parameter_names(ctx: OptimizerContext, name: str) -> list[str]:
    targets = ctx.args.optim_target_modules
    if targets is None:
        raise ValueError(f"You need to define `optim_target_modules` to use {name} optimizers")
    if not isinstance(targets, (list, str)):
        raise TypeError(
            "`optim_target_modules` must be a list of strings, a regex string, or 'all-linear'. "
            f"Got: {targets}"
        )
    if ctx.model is None:
        raise ValueError(f"You need to pass a model to initialize {name} optimizer.")
    all_linear = isinstance(targets, str) and targets.replace("_", "-") == "all-linear"
    names = []
    for module_name, module in ctx.model.named_modules():
        found, is_regex = check_target_module_exists(targets, module_name)
        if not isinstance(module, nn.Linear):
            if found and not is_regex:
                logger.warning(
                    f"{module_name} matched but ignored. {name} only supports linear layers."
                )
            continue
        if found or all_linear:
            names.append(module_name + ".weight")
    if not names:
        raise ValueError(f"No target modules found for {name} ({targets}).")
    return names


def _layerwise(
    ctx: OptimizerContext, cls: Any, groups: list[dict[str, Any]], kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    name = optim_value(ctx.args.optim)
    if ctx.args.gradient_accumulation_steps != 1:
        raise ValueError(f"Layerwise {name} does not support gradient accumulation!")
    plain, target = groups
    extra = {k: v for k, v in target.items() if k != "params"}
    optimizer_dict: dict[torch.Tensor, torch.optim.Optimizer] = {}
    for param in plain["params"]:
        optimizer_dict[param] = cls([{"params": [param]}], **kwargs)
    for param in target["params"]:
        optimizer_dict[param] = cls([{"params": [param], **extra}], **kwargs)

    def optimizer_hook(param: torch.Tensor) -> None:
        if param.grad is not None:
            optimizer_dict[param].step()
            optimizer_dict[param].zero_grad()

    assert ctx.model is not None
    for param in ctx.model.parameters():
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(optimizer_hook)
    kwargs.update({"optimizer_dict": optimizer_dict})
    return LayerWiseDummyOptimizer, kwargs


def setup_low_rank_optimizer(
    ctx: OptimizerContext,
    cls: Any,
    low_rank_kwargs: dict[str, Any],
    layerwise_checks_ddp: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Groups [other params] and [target weights with `low_rank_kwargs`], or a layer-wise setup."""
    name = optim_value(ctx.args.optim)
    is_layerwise = name.lower().endswith("layerwise")
    if is_layerwise and layerwise_checks_ddp and _is_distributed(ctx.args):
        raise NotImplementedError(f"Layer-wise {name} does not support DDP at this time")
    target_names = _target_parameter_names(ctx, name)
    assert ctx.model is not None
    named = list(ctx.model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n not in target_names]},
        {"params": [p for n, p in named if n in target_names], **low_rank_kwargs},
    ]
    kwargs = ctx.optimizer_kwargs
    if is_layerwise:
        cls, kwargs = _layerwise(ctx, cls, groups, kwargs)
    kwargs.update({"params": groups})
    return cls, kwargs


def _is_distributed(args: Any) -> bool:
    mode = getattr(args, "parallel_mode", None)
    return str(getattr(mode, "value", mode)) == "distributed"


def galore(ctx: OptimizerContext, galore_torch: ModuleType) -> tuple[Any, dict[str, Any]]:
    """GaLoreAdamW / GaLoreAdamW8bit / GaLoreAdafactor (optim_args: rank, update_proj_gap, scale, proj_type)."""
    name = optim_value(ctx.args.optim)
    if "adafactor" in name:
        cls = galore_torch.GaLoreAdafactor
    else:
        cls = galore_torch.GaLoreAdamW8bit if "8bit" in name else galore_torch.GaLoreAdamW
    opts = ctx.optim_args
    low_rank = {
        "rank": int(opts.pop("rank", 128)),
        "update_proj_gap": int(opts.pop("update_proj_gap", 200)),
        "scale": float(opts.pop("scale", 0.25)),
        "proj_type": opts.pop("proj_type", "std"),
    }
    cls, kwargs = setup_low_rank_optimizer(ctx, cls, low_rank)
    if name == "galore_adafactor":
        kwargs.update({"scale_parameter": False, "relative_step": False})
    return cls, kwargs


def apollo(ctx: OptimizerContext, apollo_torch: ModuleType) -> tuple[Any, dict[str, Any]]:
    """APOLLOAdamW (optim_args: rank, proj, scale_type, update_proj_gap, scale, proj_type)."""
    opts = ctx.optim_args
    low_rank = {
        "rank": int(opts.pop("rank", 128)),
        "proj": opts.pop("proj", "random"),
        "scale_type": opts.pop("scale_type", "channel"),
        "update_proj_gap": int(opts.pop("update_proj_gap", 200)),
        "scale": float(opts.pop("scale", 1.0)),
        "proj_type": opts.pop("proj_type", "std"),
        **ctx.adam_kwargs,
    }
    return setup_low_rank_optimizer(ctx, apollo_torch.APOLLOAdamW, low_rank)
