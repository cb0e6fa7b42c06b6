"""How `TrainingArguments` reaches the device layer: it is registered, never imported by name.

trainer-args sits below the package that knows devices (it needs torch and accelerate), so
it must not import it; and importing it by a module name held in a string would be an upward
edge that import-linter cannot see. As opentelemetry-api finds its SDK, the device layer
provides itself instead, in one of two ways:

1. registered: the device layer calls `register_device_setup(setup)` when it is imported
   (trainer-dist does, in its `__init__`);
2. discovered: when a device property is first read and nothing is registered, the installed
   distributions' entry points in the group `trainer_args.device_setup` are read and the
   first (by name) is loaded and registered. trainer-dist declares its `setup_devices` there,
   so a script that never imported it still gets `TrainingArguments().device`.

Reading entry points looks at installed metadata only: nothing here imports torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "ENTRY_POINT_GROUP",
    "INSTALL_HINT",
    "DeviceFacts",
    "DeviceSetupFunction",
    "device_layer_available",
    "device_setup_function",
    "register_device_setup",
]

ENTRY_POINT_GROUP = "trainer_args.device_setup"
INSTALL_HINT = "pip install trainer-dist"


class DeviceFacts(Protocol):
    """What a device set-up answers for one `TrainingArguments` (trainer-dist's `DeviceSetup`).

    Read-only properties, so that a frozen dataclass or a plain namespace both qualify.
    """

    @property
    def device(self) -> Any:
        """The torch.device of this process."""

    @property
    def n_gpu(self) -> int:
        """GPUs this process drives (> 1 only for DataParallel)."""

    @property
    def parallel_mode(self) -> Any:
        """A `ParallelMode`, or its value."""

    @property
    def distributed_state(self) -> Any:
        """accelerate's PartialState."""


DeviceSetupFunction = Callable[[Any], DeviceFacts]

# The one process-wide provider, as opentelemetry keeps one global tracer provider.
_registered: DeviceSetupFunction | None = None


def register_device_setup(setup: DeviceSetupFunction) -> None:
    """Make `setup(args)` the function device properties ask; the last registration wins.

    Called by the device layer when it is imported. `setup` runs once per arguments object
    (its answer is cached on the object) and should import torch only when called.
    """
    global _registered
    _registered = setup


@functools.lru_cache(maxsize=1)
def _declared_entry_points() -> tuple[EntryPoint, ...]:
    # Cached: scanning the installed distributions takes ~10 ms, and `train_batch_size`
    # asks whether a device layer is available every time while none is registered.
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def device_layer_available() -> bool:
    """Whether a device layer is registered or installed (imports nothing to find out)."""
    return _registered is not None or bool(_declared_entry_points())


def _missing(reason: str) -> ImportError:
    return ImportError(
        "TrainingArguments device properties (device, n_gpu, parallel_mode, distributed_state) "
        f"need torch and trainer_dist: {INSTALL_HINT} ({reason})"
    )


def device_setup_function() -> DeviceSetupFunction:
    """The registered device set-up, else the one an installed entry point provides.

    Raises:
        ImportError: No device layer is registered or installed, or the installed one cannot
            be imported (torch missing, say); the message says what to install.
    """
    if _registered is not None:
        return _registered
    points = _declared_entry_points()
    if not points:
        raise _missing(f"no installed package provides {ENTRY_POINT_GROUP!r}")
    try:
        # By name, so that the choice does not depend on the order distributions were installed.
        setup = min(points, key=lambda point: point.name).load()
    except ImportError as exc:
        raise _missing(str(exc)) from exc
    register_device_setup(setup)
    return setup
