"""FSDP options: legacy `fsdp` strings/lists folded into `fsdp_config`, plugin kwargs built.

Mirrors transformers' `_process_fsdp_args` without accelerate: the accelerate constants it
needs are spelled out here, once for every layer (trainer_dist's plugin builder reads them
from this module too).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from trainer_args.enums import FSDPOption
from trainer_args.errors import ValidationError
from trainer_args.truth import STRTOBOOL, parse_truth

__all__ = [
    "AUTO_WRAP_POLICIES",
    "CPU_RAM_EFFICIENT_LOADING_ENV",
    "SHARDING_STRATEGIES",
    "process_fsdp_args",
]

logger = logging.getLogger(__name__)
# accelerate's FSDP_SHARDING_STRATEGY: the legacy `fsdp` words that name a strategy.
SHARDING_STRATEGIES = (
    "FULL_SHARD",
    "SHARD_GRAD_OP",
    "NO_SHARD",
    "HYBRID_SHARD",
    "HYBRID_SHARD_ZERO2",
)
# accelerate's FSDP_AUTO_WRAP_POLICY; the first is the default.
AUTO_WRAP_POLICIES = ("TRANSFORMER_BASED_WRAP", "SIZE_BASED_WRAP", "NO_WRAP")
# Read by model loading code and accelerate, so it is set wherever the plugin kwargs are built.
CPU_RAM_EFFICIENT_LOADING_ENV = "FSDP_CPU_RAM_EFFICIENT_LOADING"


def _str_to_bool(name: str, value: Any) -> bool:
    # transformers reads these options with strtobool (on/off accepted), not string_to_bool.
    parsed = parse_truth(str(value), STRTOBOOL)
    if parsed is None:
        raise ValidationError.for_field(
            f"fsdp_config.{name}", value, "invalid truth value", STRTOBOOL.words
        )
    return parsed


def _load_config(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        with open(value, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValidationError.for_field(
            "fsdp_config", value, f"cannot read the JSON file: {exc}"
        ) from exc
    if not isinstance(loaded, dict):
        raise ValidationError.for_field("fsdp_config", value, "the file must hold a JSON object")
    return loaded


def _apply_legacy(fsdp: str | list[Any], config: dict[str, Any]) -> None:
    """ "full_shard offload auto_wrap" style options -> fsdp_config entries (deprecated upstream)."""
    logger.warning(
        "Passing `fsdp` as a string or list is deprecated; use fsdp=True and fsdp_config."
    )
    items = fsdp.split() if isinstance(fsdp, str) else list(fsdp)
    version = int(config.get("version", 2))
    for item in items:
        if str(item).upper() in SHARDING_STRATEGIES:
            if version != 2:
                config.setdefault("reshard_after_forward", item)
            elif item in (FSDPOption.FULL_SHARD, FSDPOption.SHARD_GRAD_OP):
                config.setdefault("reshard_after_forward", item == FSDPOption.FULL_SHARD)
            else:
                message = (
                    f"`fsdp={item}` is only available with FSDP1; set fsdp_config['version'] = 1"
                )
                raise ValidationError.for_field("fsdp", item, message)
        elif item == FSDPOption.OFFLOAD:
            config.setdefault("cpu_offload", True)
        elif item != FSDPOption.AUTO_WRAP:
            allowed = [o.value for o in FSDPOption]
            raise ValidationError.for_field("fsdp", item, f"Unknown `fsdp` option: {item}", allowed)


def _normalise_config(config: dict[str, Any]) -> None:
    for key in list(config):
        if key.startswith("fsdp_"):
            config[key[5:]] = config.pop(key)


def _shared_defaults(config: dict[str, Any]) -> None:
    config["min_num_params"] = config.get("min_num_params", 0)
    if isinstance(config.get("transformer_layer_cls_to_wrap"), str):
        config["transformer_layer_cls_to_wrap"] = [config["transformer_layer_cls_to_wrap"]]
    for key in ("xla", "xla_fsdp_v2", "xla_fsdp_grad_ckpt"):
        config.setdefault(key, False)


def process_fsdp_args(args: Any) -> dict[str, Any] | None:
    """Normalise `args.fsdp`/`args.fsdp_config` in place; return accelerate FSDP plugin kwargs."""
    if not args.fsdp:
        return None
    try:
        return _process(args)
    except ValidationError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError.for_field(
            "fsdp_config", args.fsdp_config, f"invalid FSDP options: {exc}"
        ) from exc


def _process(args: Any) -> dict[str, Any] | None:
    args.fsdp_config = config = _load_config(args.fsdp_config)
    _normalise_config(config)
    if isinstance(args.fsdp, (str, list)):
        _apply_legacy(args.fsdp, config)
    args.fsdp = True
    _shared_defaults(config)
    if config["xla"]:
        return None  # XLA FSDP: trainer_dist reads fsdp_config["xla_fsdp_settings"]
    return _plugin_args(config)


def _wrap_policy(config: dict[str, Any], plugin: dict[str, Any]) -> None:
    policy = config.get("auto_wrap_policy", AUTO_WRAP_POLICIES[0])
    if policy not in AUTO_WRAP_POLICIES:
        raise ValidationError.for_field(
            "fsdp_config.auto_wrap_policy", policy, "unknown policy", AUTO_WRAP_POLICIES
        )
    plugin["auto_wrap_policy"] = policy
    if policy == AUTO_WRAP_POLICIES[1] and config["min_num_params"] > 0:
        plugin["min_num_params"] = config["min_num_params"]
    elif (
        policy == AUTO_WRAP_POLICIES[0] and config.get("transformer_layer_cls_to_wrap") is not None
    ):
        plugin["transformer_cls_names_to_wrap"] = ",".join(config["transformer_layer_cls_to_wrap"])


def _plugin_args(config: dict[str, Any]) -> dict[str, Any]:
    version = int(config.get("version", 2))
    plugin: dict[str, Any] = {"fsdp_version": version}
    if config.get("cpu_offload", False):
        plugin["cpu_offload"] = True
    _wrap_policy(config, plugin)
    ram_efficient = str(config.get("cpu_ram_efficient_loading", "false")).lower()
    plugin["cpu_ram_efficient_loading"] = _str_to_bool("cpu_ram_efficient_loading", ram_efficient)
    os.environ[CPU_RAM_EFFICIENT_LOADING_ENV] = ram_efficient  # as upstream sets it here
    plugin["state_dict_type"] = config.get("state_dict_type", "FULL_STATE_DICT")
    if "activation_checkpointing" in config:
        plugin["activation_checkpointing"] = _str_to_bool(
            "activation_checkpointing", config["activation_checkpointing"]
        )
    if version == 2:
        plugin["reshard_after_forward"] = _str_to_bool(
            "reshard_after_forward", config.get("reshard_after_forward", True)
        )
    else:
        _fsdp1_args(config, plugin)
    return plugin


def _fsdp1_args(config: dict[str, Any], plugin: dict[str, Any]) -> None:
    logger.warning("FSDP1 (fsdp_config['version'] = 1) is deprecated upstream; prefer version 2.")
    plugin["reshard_after_forward"] = str(config.get("reshard_after_forward", "full_shard")).lower()
    plugin["forward_prefetch"] = _str_to_bool(
        "forward_prefetch", config.get("forward_prefetch", "false")
    )
    plugin["backward_prefetch"] = str(config.get("backward_prefetch", "NO_PREFETCH")).upper()
    plugin["use_orig_params"] = _str_to_bool(
        "use_orig_params", config.get("use_orig_params", "true")
    )
    plugin["sync_module_states"] = _str_to_bool(
        "sync_module_states", config.get("sync_module_states", "true")
    )
    if "limit_all_gathers" in config:
        plugin["limit_all_gathers"] = _str_to_bool("limit_all_gathers", config["limit_all_gathers"])
