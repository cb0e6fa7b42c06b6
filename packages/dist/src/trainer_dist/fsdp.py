"""`fsdp` / `fsdp_config` → keyword arguments of accelerate's FullyShardedDataParallelPlugin."""

from __future__ import annotations

import os
from typing import Any

from trainer_args.enums import FSDPOption
from trainer_args.fsdp import AUTO_WRAP_POLICIES, CPU_RAM_EFFICIENT_LOADING_ENV, SHARDING_STRATEGIES
from trainer_args.truth import STRTOBOOL, parse_truth
from trainer_dist._config import as_dict


def _to_bool(value: Any, name: str) -> bool:
    # Stripped first: these options may come from hand-written JSON or another library's args.
    parsed = parse_truth(str(value).strip(), STRTOBOOL)
    if parsed is None:
        raise ValueError(f"fsdp_config[{name!r}] must be a boolean, got {value!r}")
    return parsed


def fsdp_enabled(args: Any) -> bool:
    """Whether `args.fsdp` asks for FSDP (True, a non-empty option string or list)."""
    fsdp = getattr(args, "fsdp", None)
    if isinstance(fsdp, str):
        return bool(fsdp.strip())
    return bool(fsdp)


def _legacy_items(fsdp: Any) -> list[str]:
    if isinstance(fsdp, bool) or fsdp is None:
        return []
    raw = fsdp.split() if isinstance(fsdp, str) else list(fsdp)
    return [str(getattr(item, "value", item)) for item in raw]


def _apply_legacy_options(items: list[str], config: dict[str, Any], version: int) -> None:
    """Translate deprecated `fsdp="full_shard offload ..."` options into `fsdp_config` keys."""
    for item in items:
        if item.upper() in SHARDING_STRATEGIES:
            if version == 1:
                config.setdefault("reshard_after_forward", item)
            elif item == FSDPOption.FULL_SHARD:
                config.setdefault("reshard_after_forward", True)
            elif item == FSDPOption.SHARD_GRAD_OP:
                config.setdefault("reshard_after_forward", False)
            else:
                raise ValueError(
                    f"`fsdp={item}` is only available with FSDP1; set fsdp_config['version'] = 1 "
                    "to use it (FSDP1 is deprecated)"
                )
        elif item == FSDPOption.OFFLOAD:
            config.setdefault("cpu_offload", True)
        elif item != FSDPOption.AUTO_WRAP:  # auto_wrap: the default policy already wraps
            raise ValueError(f"Unknown `fsdp` option: {item}")


def normalized_fsdp_config(args: Any) -> dict[str, Any]:
    """A copy of `args.fsdp_config` with `fsdp_` prefixes stripped and legacy options applied."""
    config = {
        (key[5:] if key.startswith("fsdp_") else key): value
        for key, value in as_dict(getattr(args, "fsdp_config", None)).items()
    }
    version = int(config.get("version", 2))
    _apply_legacy_options(_legacy_items(getattr(args, "fsdp", None)), config, version)
    config.setdefault("min_num_params", 0)
    if isinstance(config.get("transformer_layer_cls_to_wrap"), str):
        config["transformer_layer_cls_to_wrap"] = [config["transformer_layer_cls_to_wrap"]]
    return config


def _wrap_policy_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    policy = config.get("auto_wrap_policy", AUTO_WRAP_POLICIES[0])
    if policy not in AUTO_WRAP_POLICIES:
        raise ValueError(
            f"`auto_wrap_policy` must be one of {list(AUTO_WRAP_POLICIES)}, got {policy}."
        )
    kwargs: dict[str, Any] = {"auto_wrap_policy": policy}
    if policy == "SIZE_BASED_WRAP" and config["min_num_params"] > 0:
        kwargs["min_num_params"] = config["min_num_params"]
    elif policy == "TRANSFORMER_BASED_WRAP" and config.get("transformer_layer_cls_to_wrap"):
        kwargs["transformer_cls_names_to_wrap"] = ",".join(config["transformer_layer_cls_to_wrap"])
    return kwargs


def _v1_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    kwargs = {
        "reshard_after_forward": str(config.get("reshard_after_forward", "full_shard")).lower(),
        "forward_prefetch": _to_bool(config.get("forward_prefetch", False), "forward_prefetch"),
        "backward_prefetch": str(config.get("backward_prefetch", "NO_PREFETCH")).upper(),
        "use_orig_params": _to_bool(config.get("use_orig_params", True), "use_orig_params"),
        "sync_module_states": _to_bool(
            config.get("sync_module_states", True), "sync_module_states"
        ),
    }
    if "limit_all_gathers" in config:
        kwargs["limit_all_gathers"] = _to_bool(config["limit_all_gathers"], "limit_all_gathers")
    return kwargs


def fsdp_plugin_kwargs(args: Any) -> dict[str, Any] | None:
    """Keyword arguments for `FullyShardedDataParallelPlugin`, or None when FSDP is off.

    Same mapping as transformers: `fsdp_version` defaults to 2, FULL_STATE_DICT,
    transformer-based wrapping; XLA FSDP is not handled here (returns None).
    """
    if not fsdp_enabled(args):
        return None
    precomputed = getattr(args, "fsdp_plugin_args", None)
    if isinstance(precomputed, dict):  # trainer_args / transformers already mapped them
        return dict(precomputed)
    config = normalized_fsdp_config(args)
    if config.get("xla"):
        return None
    version = int(config.get("version", 2))
    kwargs: dict[str, Any] = {"fsdp_version": version}
    if config.get("cpu_offload", False):
        kwargs["cpu_offload"] = True
    kwargs.update(_wrap_policy_kwargs(config))
    ram_efficient = _to_bool(
        config.get("cpu_ram_efficient_loading", False), "cpu_ram_efficient_loading"
    )
    kwargs["cpu_ram_efficient_loading"] = ram_efficient
    # accelerate and model loaders read this variable too
    os.environ[CPU_RAM_EFFICIENT_LOADING_ENV] = str(ram_efficient).lower()
    kwargs["state_dict_type"] = config.get("state_dict_type", "FULL_STATE_DICT")
    if "activation_checkpointing" in config:
        kwargs["activation_checkpointing"] = _to_bool(
            config["activation_checkpointing"], "activation_checkpointing"
        )
    if version == 2:
        kwargs["reshard_after_forward"] = _to_bool(
            config.get("reshard_after_forward", True), "reshard_after_forward"
        )
    else:
        kwargs.update(_v1_kwargs(config))
    return kwargs
