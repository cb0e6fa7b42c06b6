"""Optimizers that need a package beyond torch, wired as transformers wires them.

None of these packages is a dependency: when one is missing, asking for its optimizer
raises `OptimizerUnavailableError` naming `optim`, the package to install and the
optimizers available now.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import re
from types import ModuleType
from typing import Any

import torch
from torch import nn

from trainer_args import FieldError
from trainer_args.truth import STRTOBOOL, parse_truth
from trainer_loop.optim.context import (
    OptimizerContext,
    OptimizerHandler,
    OptimizerUnavailableError,
    optim_value,
)

logger = logging.getLogger(__name__)

BITSANDBYTES_OPTIMIZERS = (
    "adamw_bnb_8bit", "adamw_8bit", "paged_adamw_32bit", "paged_adamw_8bit", "ademamix",
    "ademamix_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit", "lion_32bit", "lion_8bit",
    "paged_lion_32bit", "paged_lion_8bit", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit",
)  # fmt: skip
GALORE_OPTIMIZERS = (
    "galore_adamw", "galore_adamw_8bit", "galore_adafactor",
    "galore_adamw_layerwise", "galore_adamw_8bit_layerwise", "galore_adafactor_layerwise",
)  # fmt: skip
APOLLO_OPTIMIZERS = ("apollo_adamw", "apollo_adamw_layerwise")
TORCHAO_OPTIMIZERS = ("adamw_torch_4bit", "adamw_torch_8bit")
SCHEDULE_FREE_OPTIMIZERS = ("schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd")

# optim value -> (module to import, what to install)
PACKAGES: dict[str, tuple[str, str]] = {
    "adamw_torch_xla": ("torch_xla", "torch_xla (PyTorch/XLA)"),
    "adamw_torch_npu_fused": ("torch_npu", "torch_npu (Ascend NPU support)"),
    "adamw_anyprecision": ("torchdistx", "torchdistx (https://github.com/pytorch/torchdistx)"),
    "grokadamw": ("grokadamw", "grokadamw"),
    "stable_adamw": ("optimi", "torch-optimi"),
    "lomo": ("lomo_optim", "lomo-optim"),
    "adalomo": ("lomo_optim", "lomo-optim"),
    **dict.fromkeys(BITSANDBYTES_OPTIMIZERS, ("bitsandbytes", "bitsandbytes")),
    **dict.fromkeys(GALORE_OPTIMIZERS, ("galore_torch", "galore-torch")),
    **dict.fromkeys(APOLLO_OPTIMIZERS, ("apollo_torch", "apollo-torch")),
    **dict.fromkeys(TORCHAO_OPTIMIZERS, ("torchao", "torchao>=0.4.0")),
    **dict.fromkeys(SCHEDULE_FREE_OPTIMIZERS, ("schedulefree", "schedulefree")),
}


def optional_optimizer_installed(name: str) -> bool:
    """Whether the package behind optimizer `name` can be imported."""
    module = PACKAGES[name][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already imported without a spec (e.g. built at run time): importable
        return True


def available_optimizers() -> list[str]:
    """Every `optim` value that can be built in this environment."""
    from trainer_loop.optim.builtin import TORCH_OPTIMIZERS

    optional = [name for name in OPTIONAL_OPTIMIZERS if optional_optimizer_installed(name)]
    return [*TORCH_OPTIMIZERS, *optional]


def unavailable(name: str, message: str) -> OptimizerUnavailableError:
    return OptimizerUnavailableError(FieldError("optim", name, message, available_optimizers()))


def require(ctx: OptimizerContext, min_version: str | None = None) -> ModuleType:
    """Import the package behind `ctx.args.optim`, or say which one to install."""
    name = optim_value(ctx.args.optim)
    module, install = PACKAGES[name]
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        raise unavailable(
            name, f"needs the `{install}` package, which is not installed ({error})"
        ) from error
    if min_version is not None and _version(module) < _parse_version(min_version):
        raise unavailable(
            name, f"needs `{module}>={min_version}`: pip install -U '{module}>={min_version}'"
        )
    return imported


def _parse_version(text: str) -> tuple[int, ...]:
    # Leading numeric parts only ("0.11.0.dev1" -> (0, 11, 0)): enough to compare release floors.
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def _version(module: str) -> tuple[int, ...]:
    distribution = {"optimi": "torch-optimi", "lomo_optim": "lomo-optim"}.get(module, module)
    try:
        return _parse_version(importlib.metadata.version(distribution))
    except importlib.metadata.PackageNotFoundError:
        return _parse_version(getattr(importlib.import_module(module), "__version__", "0"))


def strtobool(value: str) -> bool:
    """'yes/true/on/1' -> True, 'no/false/off/0' -> False, anything else a ValueError."""
    parsed = parse_truth(value, STRTOBOOL)
    if parsed is None:
        raise ValueError(f"invalid truth value {value!r}")
    return parsed


def _adamw_torch_xla(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    require(ctx)
    from torch_xla.amp.syncfree import AdamW

    ctx.optimizer_kwargs.update(ctx.adam_kwargs)
    return AdamW, ctx.optimizer_kwargs


def _adamw_torch_npu_fused(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    require(ctx)
    from torch_npu.optim import NpuFusedAdamW

    ctx.optimizer_kwargs.update(ctx.adam_kwargs)
    return NpuFusedAdamW, ctx.optimizer_kwargs


def _adamw_anyprecision(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    require(ctx)
    from torchdistx.optimizers import AnyPrecisionAdamW

    opts = ctx.optim_args
    ctx.optimizer_kwargs.update(ctx.adam_kwargs)
    ctx.optimizer_kwargs.update(
        {
            "use_kahan_summation": strtobool(opts.get("use_kahan_summation", "False")),
            "momentum_dtype": getattr(torch, opts.get("momentum_dtype", "float32")),
            "variance_dtype": getattr(torch, opts.get("variance_dtype", "float32")),
            "compensation_buffer_dtype": getattr(
                torch, opts.get("compensation_buffer_dtype", "bfloat16")
            ),
        }
    )
    return AnyPrecisionAdamW, ctx.optimizer_kwargs


def _ademamix_kwargs(ctx: OptimizerContext) -> dict[str, Any]:
    opts, args = ctx.optim_args, ctx.args
    kwargs: dict[str, Any] = {
        "betas": (
            float(opts.get("beta1", args.adam_beta1)),
            float(opts.get("beta2", args.adam_beta2)),
            float(opts.get("beta3", 0.9999)),
        ),
        "alpha": float(opts.get("alpha", 5.0)),
        "eps": float(opts.get("eps", args.adam_epsilon)),
    }
    for key in ("t_alpha", "t_beta3"):
        if key in opts:
            kwargs[key] = int(opts[key])
    return kwargs


def _bitsandbytes(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    bnb = require(ctx)
    name = optim_value(ctx.args.optim)
    extra: dict[str, Any]
    if "adam" in name:
        cls, extra = bnb.optim.AdamW, ctx.adam_kwargs
    elif "lion" in name:
        cls, extra = bnb.optim.Lion, {"betas": (ctx.args.adam_beta1, ctx.args.adam_beta2)}
    elif "rmsprop" in name:
        cls, extra = bnb.optim.RMSprop, dict(ctx.optim_args)
    else:  # ademamix
        cls, extra = bnb.optim.AdEMAMix, _ademamix_kwargs(ctx)
    bnb_kwargs: dict[str, Any] = {"optim_bits": 8 if "8bit" in name else 32}
    if "rmsprop" not in name:
        bnb_kwargs["is_paged"] = "paged" in name
    ctx.optimizer_kwargs.update(extra)
    ctx.optimizer_kwargs.update(bnb_kwargs)
    return cls, ctx.optimizer_kwargs


def keep_embeddings_in_fp32(model: nn.Module) -> None:
    """8-bit bitsandbytes optimizers are unstable on embeddings: keep those in 32-bit, as transformers."""
    import bitsandbytes

    manager = bitsandbytes.optim.GlobalOptimManager.get_instance()
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            manager.register_module_override(module, "weight", {"optim_bits": 32})
            logger.debug("bitsandbytes: will optimize %s in fp32", module)


def _torchao(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    require(ctx, min_version="0.4.0")
    if _version("torchao") >= (0, 11, 0):
        from torchao.optim import AdamW4bit, AdamW8bit
    else:
        from torchao.prototype.low_bit_optim import AdamW4bit, AdamW8bit
    cls = AdamW4bit if optim_value(ctx.args.optim) == "adamw_torch_4bit" else AdamW8bit
    opts = ctx.optim_args
    # transformers passes a given block_size on as a string; torchao needs an int.
    block_size = int(opts["block_size"]) if "block_size" in opts else 256
    ctx.optimizer_kwargs.update(
        {
            "block_size": block_size,
            "bf16_stochastic_round": strtobool(opts.get("bf16_stochastic_round", "False")),
        }
    )
    ctx.optimizer_kwargs.update(ctx.adam_kwargs)
    return cls, ctx.optimizer_kwargs


def _schedule_free(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    name = optim_value(ctx.args.optim)
    schedulefree = require(ctx, min_version="1.4.0" if name == "schedule_free_radam" else None)
    extra: dict[str, Any] = {}
    if name == "schedule_free_radam":
        cls, extra = schedulefree.RAdamScheduleFree, dict(ctx.adam_kwargs)
    elif name == "schedule_free_adamw":
        cls, extra = schedulefree.AdamWScheduleFree, dict(ctx.adam_kwargs)
    else:
        cls = schedulefree.SGDScheduleFree
    extra["weight_decay"] = ctx.args.weight_decay
    if name != "schedule_free_radam":  # RAdam needs no warmup
        extra["warmup_steps"] = ctx.args.warmup_steps
    extra["weight_lr_power"] = float(ctx.optim_args.get("weight_lr_power", 2.0))
    extra["r"] = float(ctx.optim_args.get("r", 0.0))
    ctx.optimizer_kwargs.update(extra)
    return cls, ctx.optimizer_kwargs


def _grokadamw(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    grokadamw = require(ctx)
    defaults = {"alpha_init": 0.98, "lamb": 2.0, "gamma": 0.1, "grokking_signal_decay_rate": 0.1,
                "gradient_clipping": 1.0}  # fmt: skip
    ctx.optimizer_kwargs.update({k: float(ctx.optim_args.get(k, v)) for k, v in defaults.items()})
    return grokadamw.GrokAdamW, ctx.optimizer_kwargs


def _stable_adamw(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    optimi = require(ctx)
    opts = ctx.optim_args
    max_lr = float(opts["max_lr"]) if "max_lr" in opts else None
    # transformers uses bool("False") == True here; parse the words instead.
    kahan_sum = strtobool(opts["kahan_sum"]) if "kahan_sum" in opts else None
    decouple_lr = strtobool(opts["decouple_lr"]) if "decouple_lr" in opts else False
    ctx.optimizer_kwargs.update({**ctx.adam_kwargs, "weight_decay": ctx.args.weight_decay})
    ctx.optimizer_kwargs.update(
        {"decouple_lr": decouple_lr, "max_lr": max_lr, "kahan_sum": kahan_sum}
    )
    return optimi.StableAdamW, ctx.optimizer_kwargs


def _lomo(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    lomo_optim = require(ctx)
    if ctx.model is None:
        raise ValueError(
            "You need to pass a `model` in order to correctly initialize a LOMO optimizer."
        )
    cls = lomo_optim.AdaLomo if "ada" in optim_value(ctx.args.optim) else lomo_optim.Lomo
    ctx.optimizer_kwargs.update({"model": ctx.model})
    return cls, ctx.optimizer_kwargs


def _galore(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    from trainer_loop.optim.low_rank import galore

    return galore(ctx, require(ctx))


def _apollo(ctx: OptimizerContext) -> tuple[Any, dict[str, Any]]:
    from trainer_loop.optim.low_rank import apollo

    return apollo(ctx, require(ctx))


OPTIONAL_OPTIMIZERS: dict[str, OptimizerHandler] = {
    "adamw_torch_xla": _adamw_torch_xla,
    "adamw_torch_npu_fused": _adamw_torch_npu_fused,
    "adamw_anyprecision": _adamw_anyprecision,
    "grokadamw": _grokadamw,
    "stable_adamw": _stable_adamw,
    "lomo": _lomo,
    "adalomo": _lomo,
    **dict.fromkeys(BITSANDBYTES_OPTIMIZERS, _bitsandbytes),
    **dict.fromkeys(GALORE_OPTIMIZERS, _galore),
    **dict.fromkeys(APOLLO_OPTIMIZERS, _apollo),
    **dict.fromkeys(TORCHAO_OPTIMIZERS, _torchao),
    **dict.fromkeys(SCHEDULE_FREE_OPTIMIZERS, _schedule_free),
}
