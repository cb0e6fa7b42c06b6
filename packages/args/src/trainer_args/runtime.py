"""Process and device facts for TrainingArguments, without importing torch.

Ranks come from the cached accelerate state when devices were set up, otherwise from
the launcher's environment variables (torchrun / accelerate launch set WORLD_SIZE, RANK,
LOCAL_RANK). Device facts come from the device layer (trainer-dist's `setup_devices`),
which `trainer_args.device_layer` finds by registration or entry point: this package never
imports it.
"""

from __future__ import annotations

import os
from typing import Any

from trainer_args import device_layer
from trainer_args.enums import ParallelMode

__all__ = [
    "VERBOSITY_LOGGER",
    "current_verbosity",
    "device_setup",
    "n_gpu_hint",
    "parallel_mode",
    "rank_info",
    "script_verbosity",
]

# The logger whose level "passive" log levels report (the Trainer stack's root logger).
VERBOSITY_LOGGER = "trainer"
# transformers' library logger: scripts written for transformers set their verbosity on it
# (`transformers.utils.logging.set_verbosity_info()`); read by name, never imported.
TRANSFORMERS_LOGGER = "transformers"


def device_setup(args: Any) -> Any:
    """The DeviceSetup of `args`, computed once and cached in `args._device_setup`."""
    if args._device_setup is None:
        args._device_setup = device_layer.device_setup_function()(args)
    return args._device_setup


def n_gpu_hint(args: Any) -> int:
    """n_gpu without forcing torch: a set `_n_gpu` wins; without a device layer there is no GPU to use."""
    if args._n_gpu is not None:
        return int(args._n_gpu)
    if args._device_setup is None and not device_layer.device_layer_available():
        return 0
    return int(args.n_gpu)


def parallel_mode(args: Any) -> ParallelMode:
    """The `ParallelMode` of `args.parallel_mode`, from the device set-up and `args.n_gpu`."""
    mode = device_setup(args).parallel_mode
    value = getattr(mode, "value", mode)
    if value in (ParallelMode.NOT_PARALLEL.value, ParallelMode.NOT_DISTRIBUTED.value):
        # Recomputed from n_gpu, which the Trainer may override (`args._n_gpu = 1`).
        return ParallelMode.NOT_DISTRIBUTED if args.n_gpu > 1 else ParallelMode.NOT_PARALLEL
    return ParallelMode(value)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def rank_info(args: Any, state_attr: str, env_var: str, default: int) -> int:
    """From the cached distributed state when devices were set up, else from `env_var`."""
    setup = args._device_setup
    state = getattr(setup, "distributed_state", None) if setup is not None else None
    if state is not None:
        return int(getattr(state, state_attr))
    return _env_int(env_var, default)


def script_verbosity() -> int | None:
    """The level the script gave the libraries, if it gave one.

    The level set on our `trainer` logger, else the one set on transformers' library logger
    (a transformers script sets its verbosity there, and transformers sets its default there
    when imported); None when neither has a level of its own.
    """
    import logging

    for name in (VERBOSITY_LOGGER, TRANSFORMERS_LOGGER):
        level = logging.getLogger(name).level
        if level != logging.NOTSET:
            return level
    return None


def current_verbosity() -> int:
    """What a `"passive"` log level keeps: `script_verbosity()`, else the `trainer` logger's
    effective level (the root logger's, WARNING by default)."""
    import logging

    level = script_verbosity()
    return logging.getLogger(VERBOSITY_LOGGER).getEffectiveLevel() if level is None else level
