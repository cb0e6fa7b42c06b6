"""`deepspeed` (a JSON path or a dict) → accelerate's DeepSpeedPlugin."""

from __future__ import annotations

import copy
import importlib.util
from typing import Any

from trainer_args.truth import ACCELERATE_ENV, env_flag
from trainer_dist._config import as_dict
from trainer_dist.errors import UnsupportedSetupError


def deepspeed_available() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def _fill(section: dict[str, Any], key: str, value: Any) -> None:
    """Replace an "auto" value (or fill a missing one) from the training arguments."""
    if section.get(key, "auto") == "auto":
        section[key] = value


def deepspeed_config(args: Any, world_size: int = 1) -> dict[str, Any]:
    """The DeepSpeed config of `args` with the common "auto" values filled from the arguments.

    Covers batch sizes, accumulation, clipping, precision and the optimizer's
    hyper-parameters; values set in the config win over the arguments.
    """
    config = copy.deepcopy(as_dict(args.deepspeed))
    micro = int(args.per_device_train_batch_size)
    accumulation = int(args.gradient_accumulation_steps)
    _fill(config, "train_micro_batch_size_per_gpu", micro)
    _fill(config, "gradient_accumulation_steps", accumulation)
    _fill(config, "train_batch_size", micro * accumulation * world_size)
    _fill(config, "gradient_clipping", float(args.max_grad_norm))
    for name in ("fp16", "bf16"):
        if name in config:
            _fill(config[name], "enabled", bool(getattr(args, name, False)))
    params = config.get("optimizer", {}).get("params")
    if isinstance(params, dict):
        _fill(params, "lr", float(args.learning_rate))
        _fill(params, "betas", [float(args.adam_beta1), float(args.adam_beta2)])
        _fill(params, "eps", float(args.adam_epsilon))
        _fill(params, "weight_decay", float(args.weight_decay))
    return config


def build_deepspeed_plugin(args: Any, world_size: int = 1) -> Any:
    """A DeepSpeedPlugin for `args.deepspeed`, or None when DeepSpeed is off.

    As transformers, `ACCELERATE_USE_DEEPSPEED` from `accelerate launch` also turns it on.
    """
    value = getattr(args, "deepspeed", None)
    if not value and not env_flag("ACCELERATE_USE_DEEPSPEED", ACCELERATE_ENV, strip=True):
        return None
    if not deepspeed_available():
        raise UnsupportedSetupError(
            "deepspeed", value, "the `deepspeed` package is not installed (pip install deepspeed)"
        )
    from accelerate.utils import DeepSpeedPlugin

    if not value:
        return DeepSpeedPlugin()
    return DeepSpeedPlugin(hf_ds_config=deepspeed_config(args, world_size))
