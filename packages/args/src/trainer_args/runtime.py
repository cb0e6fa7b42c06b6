"""Process and device facts for TrainingArguments, without importing torch.

Ranks come from the cached accelerate state when devices were set up, otherwise from
the launcher's environment variables (torchrun / accelerate launch set WORLD_SIZE, RANK,
LOCAL_RANK). Device facts come from `trainer_dist.devices.setup_devices(args)`, imported
on first use; it is imported by name at run time because trainer_dist sits above this
package in the layering.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Any

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
_INSTALL_HINT = "pip install trainer-dist"


def _import_devices() -> Any:
    try:
        return importlib.import_module("trainer_dist.devices")
    except ImportError as exc:
        raise ImportError(
            f"TrainingArguments device properties (device, n_gpu, parallel_mode, distributed_state) "
            f"need torch and trainer_dist: {_INSTALL_HINT} ({exc})"
        ) from exc


def device_setup(args: Any) -> Any:
    """The DeviceSetup of `args`, computed once and cached in `args._device_setup`."""
    if args._device_setup is None:
        args._device_setup = _import_devices().setup_devices(args)
    return args._device_setup


def _dist_installed() -> bool:
    try:
        return importlib.util.find_spec("trainer_dist") is not None
    except ValueError:  # in sys.modules without a spec (a stand-in module): present
        return True


def n_gpu_hint(args: Any) -> int:
    """n_gpu without forcing torch: a set `_n_gpu` wins; without trainer_dist there is no GPU to use."""
    if args._n_gpu is not None:
        return int(args._n_gpu)
    if args._device_setup is None and not _dist_installed():
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
