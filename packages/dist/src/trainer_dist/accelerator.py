"""`TrainingArguments` → one configured `accelerate.Accelerator` (transformers' way)."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from trainer_dist._config import accelerator_config
from trainer_dist.deepspeed import build_deepspeed_plugin
from trainer_dist.devices import DeviceSetup, reset_accelerate_state, setup_devices, uses_cpu
from trainer_dist.errors import UnsupportedSetupError
from trainer_dist.fsdp import fsdp_enabled, fsdp_plugin_kwargs
from trainer_dist.precision import (
    apply_tf32_setting,
    check_mixed_precision,
    resolve_mixed_precision,
)

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator

logger = logging.getLogger(__name__)

_DATALOADER_KEYS = ("split_batches", "dispatch_batches", "even_batches", "use_seedable_sampler")
# Devices whose host-to-device copies from pinned memory can run asynchronously (not CPU/MPS).
_ASYNC_COPY_DEVICE_TYPES = frozenset({"cuda", "xpu", "npu"})


def device_setup_of(args: Any) -> DeviceSetup:
    """The device setup of `args`: its own cached one (trainer_args, transformers) or a fresh one."""
    cached = getattr(args, "_trainer_dist_device_setup", None)
    if isinstance(cached, DeviceSetup):
        return cached
    try:
        state = getattr(args, "distributed_state", None)
    except (AttributeError, ImportError):
        state = None
    if state is not None:
        return DeviceSetup(args.device, int(args.n_gpu), args.parallel_mode, state)
    setup = setup_devices(args)
    # plain namespaces: remember it so a second call does not reset accelerate
    with contextlib.suppress(AttributeError):
        args._trainer_dist_device_setup = setup
    return setup


def _is_distributed(setup: DeviceSetup) -> bool:
    return str(getattr(setup.parallel_mode, "value", setup.parallel_mode)) == "distributed"


def validate_distributed_args(args: Any, setup: DeviceSetup) -> None:
    """The checks transformers makes at Trainer init about FSDP, DeepSpeed and precision."""
    if fsdp_enabled(args):
        if getattr(args, "deepspeed", None):
            raise ValueError(
                "Using --fsdp xxx together with --deepspeed is not possible, deactivate one of those flags."
            )
        if not _is_distributed(setup):
            raise ValueError("Using fsdp only works in distributed training.")
    check_mixed_precision(args, setup.device)


def _gradient_accumulation_plugin(args: Any, accumulate_in_accelerate: bool) -> Any:
    """accelerate's accumulation plugin; num_steps=1 unless accelerate itself should accumulate.

    As transformers, `gradient_accumulation_kwargs["num_steps"]` replaces
    `gradient_accumulation_steps` when that is 1, and is an error otherwise.
    """
    from accelerate.utils import GradientAccumulationPlugin

    kwargs = dict(accelerator_config(args)["gradient_accumulation_kwargs"] or {})
    if "num_steps" in kwargs:
        if args.gradient_accumulation_steps > 1:
            raise ValueError(
                "The `AcceleratorConfig`'s `num_steps` is set but `gradient_accumulation_steps` is "
                "greater than 1 in the passed `TrainingArguments`. If using the passed "
                "`AcceleratorConfig` is desired, do not set `gradient_accumulation_steps`."
            )
        args.gradient_accumulation_steps = int(kwargs["num_steps"])
    # The Trainer accumulates itself: a second division by accelerate would be wrong.
    kwargs["num_steps"] = args.gradient_accumulation_steps if accumulate_in_accelerate else 1
    kwargs.setdefault("sync_with_dataloader", False)
    return GradientAccumulationPlugin(**kwargs)


def _non_blocking(args: Any, config: dict[str, Any], device: torch.device) -> bool:
    """`accelerator_config.non_blocking`, on by default where pinned memory makes copies async.

    transformers defaults to False, and an `AcceleratorConfig` cannot tell an explicit False from
    that default, so False reads as "not asked for": with `dataloader_pin_memory=True` on a
    CUDA/XPU/NPU device the batches are copied with `non_blocking=True`. Copies from pinned
    memory are ordered on the device stream, so results are unchanged; they only overlap with
    compute. `dataloader_pin_memory=False` keeps blocking copies.
    """
    if config["non_blocking"]:
        return True
    pinned = bool(getattr(args, "dataloader_pin_memory", True))
    return pinned and device.type in _ASYNC_COPY_DEVICE_TYPES


def _dataloader_configuration(args: Any, device: torch.device) -> Any:
    from accelerate.utils import DataLoaderConfiguration

    config = accelerator_config(args)
    dataloader_config = DataLoaderConfiguration(**{key: config[key] for key in _DATALOADER_KEYS})
    dataloader_config.data_seed = getattr(args, "data_seed", None)
    dataloader_config.non_blocking = _non_blocking(args, config, device)
    if config["non_blocking"] and not getattr(args, "dataloader_pin_memory", True):
        logger.warning(
            "`non_blocking` is enabled but `dataloader_pin_memory` is not; enable both for speed."
        )
    return dataloader_config


def _is_pretrained_model(model: Any) -> bool:
    # duck typing: transformers is never imported here
    return hasattr(model, "config") and callable(getattr(model, "save_pretrained", None))


def find_unused_parameters(args: Any, model: Any = None) -> bool:
    """`ddp_find_unused_parameters`, defaulting as transformers does."""
    if getattr(args, "ddp_find_unused_parameters", None) is not None:
        return bool(args.ddp_find_unused_parameters)
    if model is not None and _is_pretrained_model(model):
        # transformers 5 renamed is_gradient_checkpointing (now deprecated, it warns)
        name = (
            "is_activation_checkpointing"
            if hasattr(type(model), "is_activation_checkpointing")
            else "is_gradient_checkpointing"
        )
        checkpointing = bool(getattr(model, name, False))
        return not (checkpointing or getattr(args, "activation_checkpointing", False))
    return True


def _kwargs_handlers(args: Any, model: Any) -> list[Any]:
    from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

    ddp_kwargs: dict[str, Any] = {"find_unused_parameters": find_unused_parameters(args, model)}
    for name in ("bucket_cap_mb", "broadcast_buffers", "static_graph"):
        value = getattr(args, f"ddp_{name}", None)
        if value is not None:
            ddp_kwargs[name] = value
    timeout = timedelta(seconds=int(getattr(args, "ddp_timeout", 1800)))
    return [DistributedDataParallelKwargs(**ddp_kwargs), InitProcessGroupKwargs(timeout=timeout)]


def _dynamo_plugin(args: Any) -> Any:
    from accelerate.utils import TorchDynamoPlugin

    backend = getattr(args, "torch_compile_backend", None)
    mode = getattr(args, "torch_compile_mode", None)
    if backend is None and (getattr(args, "torch_compile", False) or mode is not None):
        backend = "inductor"
    return TorchDynamoPlugin(backend=backend, mode=mode)


def _parallelism_config(args: Any) -> Any:
    config = getattr(args, "parallelism_config", None)
    if config is None:
        return None
    import accelerate

    if not hasattr(accelerate, "ParallelismConfig"):
        raise UnsupportedSetupError(
            "parallelism_config", config, "it needs accelerate >= 1.12 (pip install -U accelerate)"
        )
    return config


def build_accelerator_kwargs(
    args: Any, *, model: Any = None, accumulate_in_accelerate: bool = False
) -> dict[str, Any]:
    """The keyword arguments `build_accelerator` passes to `accelerate.Accelerator`."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    setup = device_setup_of(args)
    fsdp_kwargs = fsdp_plugin_kwargs(args)
    kwargs: dict[str, Any] = {
        "mixed_precision": resolve_mixed_precision(args),
        "cpu": uses_cpu(args),
        "deepspeed_plugin": build_deepspeed_plugin(args, setup.distributed_state.num_processes),
        "gradient_accumulation_plugin": _gradient_accumulation_plugin(
            args, accumulate_in_accelerate
        ),
        "dataloader_config": _dataloader_configuration(args, setup.device),
        "fsdp_plugin": FullyShardedDataParallelPlugin(**fsdp_kwargs) if fsdp_kwargs else None,
        "kwargs_handlers": _kwargs_handlers(args, model),
        "dynamo_plugin": _dynamo_plugin(args),
    }
    parallelism = _parallelism_config(args)
    if parallelism is not None:
        kwargs["parallelism_config"] = parallelism
    return kwargs


# Accelerate exports ACCELERATE_USE_FSDP=true when given an FSDP plugin and reads it again
# later (clip_grad_norm_); we remember when that came from us so a later non-FSDP build
# in the same process does not silently turn FSDP on again.
_fsdp_env_from_us = False


def _sync_fsdp_env(fsdp_requested: bool, env_before: str | None) -> None:
    global _fsdp_env_from_us
    if fsdp_requested:
        _fsdp_env_from_us = _fsdp_env_from_us or env_before is None
    elif _fsdp_env_from_us:
        os.environ.pop("ACCELERATE_USE_FSDP", None)
        _fsdp_env_from_us = False


def check_accelerator(args: Any, accelerator: Accelerator, fsdp_requested: bool) -> None:
    """Checks that need the built accelerator (transformers' create_accelerator_and_postprocess)."""
    from accelerate.utils import DistributedType

    state = accelerator.state
    if fsdp_requested and accelerator.distributed_type != DistributedType.FSDP:
        raise UnsupportedSetupError(
            "fsdp",
            getattr(args, "fsdp", True),
            f"accelerate runs this job as {accelerator.distributed_type} on {accelerator.device} and "
            "would wrap the model in DDP instead of sharding it (accelerate only enables FSDP "
            "on GPU-type devices, not on CPU processes)",
        )
    fsdp_plugin = getattr(state, "fsdp_plugin", None)
    ds_plugin = getattr(state, "deepspeed_plugin", None)
    if (
        fsdp_plugin is not None
        and fsdp_plugin.activation_checkpointing
        and getattr(args, "activation_checkpointing", False)
    ):
        raise ValueError(
            "`fsdp_config['activation_checkpointing']` (FSDP's own activation checkpointing) and the "
            "`activation_checkpointing` training argument can't both be set to True. Use FSDP's "
            "activation checkpointing when using FSDP."
        )
    if (
        getattr(args, "save_only_model", False)
        and (fsdp_plugin is not None or ds_plugin is not None)
        and getattr(args, "load_best_model_at_end", False)
    ):
        wrapper = "DeepSpeed" if ds_plugin is not None else "FSDP"
        raise ValueError(
            f"{wrapper} can't be used with `save_only_model` along with `load_best_model_at_end`."
        )
    if (
        ds_plugin is not None
        and ds_plugin.zero_stage == 3
        and getattr(args, "auto_find_batch_size", False)
    ):
        raise ValueError(
            "`auto_find_batch_size` isn't supported yet with DeepSpeed Zero-3. Please consider "
            "using Zero-2, Zero-1, or FSDP"
        )
    if (
        getattr(args, "save_only_model", False)
        and fsdp_plugin is not None
        and "SHARDED_STATE_DICT" in str(fsdp_plugin.state_dict_type)
    ):
        raise ValueError(
            "save_only_model option is not compatible with FSDP state dict type 'SHARDED_STATE_DICT'"
        )


def build_accelerator(
    args: Any, *, model: Any = None, accumulate_in_accelerate: bool = False
) -> Accelerator:
    """Build the `accelerate.Accelerator` a Trainer uses for `args`.

    - Sets up devices first (or reuses the setup cached on `args`), validates what this
      platform can run (fp16 on CPU, bf16/tf32 without support, FSDP without a
      distributed GPU run, DeepSpeed not installed → `UnsupportedSetupError`/`ValueError`)
      and applies `tf32`.
    - `model` only decides the default of `ddp_find_unused_parameters`.
    - Gradient accumulation: accelerate's `num_steps` is 1 (the Trainer accumulates itself,
      as in transformers) unless `accumulate_in_accelerate=True`, in which case
      `accelerator.accumulate(model)` does it with `gradient_accumulation_steps`.
    - accelerate's AcceleratorState is a process-wide singleton: any state left by an
      earlier Accelerator is dropped (the PartialState is kept) so that this one is
      configured from `args`, unless `accelerator_config.use_configured_state` is set.
    """
    from accelerate import Accelerator

    setup = device_setup_of(args)
    validate_distributed_args(args, setup)
    apply_tf32_setting(args)
    kwargs = build_accelerator_kwargs(
        args, model=model, accumulate_in_accelerate=accumulate_in_accelerate
    )
    if not accelerator_config(args).get("use_configured_state"):
        reset_accelerate_state(reset_partial_state=False)
    fsdp_requested = kwargs["fsdp_plugin"] is not None
    env_before = os.environ.get("ACCELERATE_USE_FSDP")
    if not fsdp_requested:
        _sync_fsdp_env(False, env_before)
    accelerator = Accelerator(**kwargs)
    try:
        check_accelerator(args, accelerator, fsdp_requested)
    except Exception:
        # leave no half-configured singleton (nor FSDP flag) behind for the next attempt
        if fsdp_requested and env_before is None:
            os.environ.pop("ACCELERATE_USE_FSDP", None)
        reset_accelerate_state(reset_partial_state=False)
        raise
    _sync_fsdp_env(fsdp_requested, env_before)
    return accelerator


def forget_prepared(accelerator: Accelerator) -> None:
    """Drop the models, optimizers, schedulers and dataloaders `accelerator` prepared before.

    A new `train()` prepares its own; without this, accelerate's lists keep the previous
    run's objects (and their memory) alive. `free_memory()` does the same and collects
    garbage too, which is slow: it is kept for the out-of-memory retries.
    """
    accelerator._schedulers = []
    accelerator._optimizers = []
    accelerator._models = []
    accelerator._dataloaders = []
    accelerator.step = 0


def has_prepared_model(accelerator: Accelerator) -> bool:
    """Whether `accelerator.prepare` has taken a model since it was built (or last forgot)."""
    return bool(accelerator._models)
