"""Device, mixed precision, distributed training (through accelerate), seeding and RNG state for trainer.

Names are loaded on first use, so `import trainer_dist` imports neither torch nor accelerate.
Importing it registers `setup_devices` with trainer-args (`trainer_args.device_layer`), which
answers `TrainingArguments.device` and its siblings; the `trainer_args.device_setup` entry point
of this distribution finds it when nothing imported this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainer_args.device_layer import DeviceFacts, register_device_setup
from trainer_dist._version import __version__

if TYPE_CHECKING:
    from trainer_dist.accelerator import (
        build_accelerator,
        build_accelerator_kwargs,
        find_unused_parameters,
        validate_distributed_args,
    )
    from trainer_dist.batch_size import find_executable_batch_size, should_reduce_batch_size
    from trainer_dist.collectives import (
        barrier,
        gather,
        gather_for_metrics,
        is_main_process,
        main_process_first,
        make_gather_function,
        pad_across_processes,
        reduce,
        shutdown_process_group,
    )
    from trainer_dist.devices import DeviceSetup, reset_accelerate_state, setup_devices
    from trainer_dist.errors import UnsupportedSetupError
    from trainer_dist.memory import MemoryTracker
    from trainer_dist.precision import configure_tf32, full_eval_dtype, resolve_mixed_precision
    from trainer_dist.rng_state import (
        capture_rng_state,
        load_rng_state,
        restore_rng_state,
        rng_state_filename,
        save_rng_state,
    )
    from trainer_dist.seeding import (
        enable_full_determinism,
        sampler_generator,
        sampler_seed,
        seed_worker,
        set_seed,
    )

_EXPORTS = {
    "accelerator": [
        "build_accelerator",
        "build_accelerator_kwargs",
        "find_unused_parameters",
        "validate_distributed_args",
    ],
    "batch_size": ["find_executable_batch_size", "should_reduce_batch_size"],
    "collectives": [
        "barrier",
        "gather",
        "gather_for_metrics",
        "is_main_process",
        "main_process_first",
        "make_gather_function",
        "pad_across_processes",
        "reduce",
        "shutdown_process_group",
    ],
    "devices": ["DeviceSetup", "reset_accelerate_state", "setup_devices"],
    "errors": ["UnsupportedSetupError"],
    "memory": ["MemoryTracker"],
    "precision": ["configure_tf32", "full_eval_dtype", "resolve_mixed_precision"],
    "rng_state": [
        "capture_rng_state",
        "load_rng_state",
        "restore_rng_state",
        "rng_state_filename",
        "save_rng_state",
    ],
    "seeding": [
        "enable_full_determinism",
        "sampler_generator",
        "sampler_seed",
        "seed_worker",
        "set_seed",
    ],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "DeviceSetup",
    "MemoryTracker",
    "UnsupportedSetupError",
    "__version__",
    "barrier",
    "build_accelerator",
    "build_accelerator_kwargs",
    "capture_rng_state",
    "configure_tf32",
    "enable_full_determinism",
    "find_executable_batch_size",
    "find_unused_parameters",
    "full_eval_dtype",
    "gather",
    "gather_for_metrics",
    "is_main_process",
    "load_rng_state",
    "main_process_first",
    "make_gather_function",
    "pad_across_processes",
    "reduce",
    "reset_accelerate_state",
    "resolve_mixed_precision",
    "restore_rng_state",
    "rng_state_filename",
    "sampler_generator",
    "sampler_seed",
    "save_rng_state",
    "seed_worker",
    "set_seed",
    "setup_devices",
    "should_reduce_batch_size",
    "shutdown_process_group",
    "validate_distributed_args",
]


def _setup_devices(args: Any) -> DeviceFacts:
    # Registered in place of `devices.setup_devices` so that importing this package still
    # imports no torch: the devices module is imported when a device property is first read.
    from trainer_dist.devices import setup_devices

    return setup_devices(args)


register_device_setup(_setup_devices)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'trainer_dist' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trainer_dist.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
