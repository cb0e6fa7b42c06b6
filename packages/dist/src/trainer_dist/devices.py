"""Device and process-group setup for one `TrainingArguments` (transformers' `_setup_devices`)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch

from trainer_args.truth import ACCELERATE_ENV, env_flag
from trainer_dist._config import accelerator_config
from trainer_dist.errors import UnsupportedSetupError
from trainer_dist.precision import apply_tf32_setting, check_bf16_hardware

if TYPE_CHECKING:
    from accelerate import PartialState

    from trainer_args import ParallelMode

# Single-process accelerators tried in transformers' order after MPS; CUDA comes last.
_OTHER_ACCELERATORS = ("xpu", "mlu", "musa", "npu", "hpu", "neuron")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceSetup:
    """What `setup_devices` found: the device of this process and how processes cooperate."""

    device: torch.device
    n_gpu: int
    parallel_mode: ParallelMode
    distributed_state: PartialState


# accelerate overwrites PartialState's distributed_type with FSDP / MEGATRON_LM when an
# Accelerator gets such a plugin; we keep the launcher's own type to put it back.
_base_distributed_type: Any = None
_PLUGIN_TYPES = ("FSDP", "MEGATRON_LM")


def _remember_distributed_type() -> None:
    global _base_distributed_type
    from accelerate import PartialState

    current = PartialState._shared_state.get("distributed_type")
    if current is not None and str(getattr(current, "name", current)) not in _PLUGIN_TYPES:
        _base_distributed_type = current


def reset_accelerate_state(reset_partial_state: bool = True) -> None:
    """Forget accelerate's process-wide singletons (AcceleratorState, and PartialState if asked).

    Needed before configuring a differently-set-up Accelerator in the same process
    (tests, several Trainers in one notebook). The torch process group itself stays up.
    """
    global _base_distributed_type
    from accelerate.state import AcceleratorState, GradientState, PartialState

    _remember_distributed_type()
    AcceleratorState._reset_state(reset_partial_state=reset_partial_state)
    GradientState._reset_state()
    if reset_partial_state:
        _base_distributed_type = None
    elif PartialState._shared_state and _base_distributed_type is not None:
        PartialState._shared_state["distributed_type"] = _base_distributed_type


def uses_cpu(args: Any) -> bool:
    """`use_cpu`, or `accelerate launch --cpu` (ACCELERATE_USE_CPU)."""
    if getattr(args, "use_cpu", False):
        return True
    return env_flag("ACCELERATE_USE_CPU", ACCELERATE_ENV, strip=True)


def _launched_world_size() -> int:
    # torchrun / accelerate launch / mpirun export one of these.
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        if name in os.environ:
            return int(os.environ[name])
    return 1


def _accelerator_available() -> bool:
    """Whether any device other than the CPU can run a process of this job."""
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        return True
    for name in _OTHER_ACCELERATORS:
        is_available = getattr(getattr(torch, name, None), "is_available", None)
        if callable(is_available) and is_available():
            return True
    return False


def _partial_state_kwargs(args: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    backend = getattr(args, "ddp_backend", None)
    # A backend in a process nobody launched makes accelerate look for a process group
    # that does not exist ("Default process group has not been initialized").
    if backend is not None and _launched_world_size() > 1:
        kwargs["backend"] = backend
    # A launched job on a machine with no accelerator can only run on the CPU; without
    # `cpu=True` accelerate would treat each process as a separate, unlaunched run.
    if uses_cpu(args) or (_launched_world_size() > 1 and not _accelerator_available()):
        kwargs["cpu"] = True
    else:
        kwargs["timeout"] = timedelta(seconds=int(getattr(args, "ddp_timeout", 1800)))
    return kwargs


def _create_partial_state(args: Any) -> PartialState:
    from accelerate import PartialState

    use_configured = bool(accelerator_config(args).get("use_configured_state"))
    if use_configured:
        if PartialState._shared_state == {}:
            raise UnsupportedSetupError(
                "accelerator_config.use_configured_state",
                True,
                "it needs an AcceleratorState or PartialState created before the TrainingArguments",
            )
        state = PartialState(cpu=uses_cpu(args))
        _check_configured_deepspeed(args, state)
        return state
    reset_accelerate_state(reset_partial_state=True)
    kwargs = _partial_state_kwargs(args)
    if getattr(args, "deepspeed", None) and not kwargs.get("cpu"):
        # accelerate detects DeepSpeed from this variable while creating the state.
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
        try:
            return PartialState(**kwargs)
        finally:
            del os.environ["ACCELERATE_USE_DEEPSPEED"]
    return PartialState(**kwargs)


def _check_configured_deepspeed(args: Any, state: PartialState) -> None:
    from accelerate.utils import DistributedType

    if getattr(args, "deepspeed", None) and state.distributed_type != DistributedType.DEEPSPEED:
        raise UnsupportedSetupError(
            "deepspeed",
            args.deepspeed,
            "accelerator_config.use_configured_state=True reuses a state that was not set up "
            "for DeepSpeed; set use_configured_state=False or configure the state for DeepSpeed",
        )


def _single_process_device(args: Any) -> tuple[torch.device, int]:
    """Device choice when no process group runs: cpu → mps → other accelerators → cuda:0."""
    if uses_cpu(args):
        return torch.device("cpu"), 0
    if torch.backends.mps.is_available():
        return torch.device("mps"), 1
    for name in _OTHER_ACCELERATORS:
        module = getattr(torch, name, None)
        is_available = getattr(module, "is_available", None)
        if module is not None and callable(is_available) and is_available():
            device = torch.device(f"{name}:0")
            module.set_device(device)
            return device, 1
    if torch.cuda.is_available():
        device = torch.device("cuda:0")
        torch.cuda.set_device(device)
        # one process driving several GPUs: the Trainer wraps the model in nn.DataParallel
        return device, torch.cuda.device_count()
    return torch.device(os.environ.get("ACCELERATE_TORCH_DEVICE", "cpu")), 0


def _parallel_mode(state: PartialState, n_gpu: int) -> ParallelMode:
    from accelerate.utils import DistributedType

    from trainer_args import ParallelMode

    if state.distributed_type == DistributedType.XLA:
        return ParallelMode.TPU
    if state.distributed_type != DistributedType.NO:
        return ParallelMode.DISTRIBUTED
    if n_gpu > 1:
        return ParallelMode.NOT_DISTRIBUTED
    return ParallelMode.NOT_PARALLEL


def setup_devices(args: Any) -> DeviceSetup:
    """Create accelerate's PartialState for `args` and pick this process's device.

    Resets accelerate's singletons first unless `accelerator_config.use_configured_state`
    is set, so call it once per arguments object (trainer_args caches the result).
    """
    from accelerate.utils import DistributedType

    logger.info("PyTorch: setting up devices")
    state = _create_partial_state(args)
    if state.distributed_type == DistributedType.NO:
        device, n_gpu = _single_process_device(args)
    else:
        # one device per process; the CPU counts as none
        device, n_gpu = state.device, (0 if uses_cpu(args) or state.device.type == "cpu" else 1)
    setup = DeviceSetup(
        device=device,
        n_gpu=n_gpu,
        parallel_mode=_parallel_mode(state, n_gpu),
        distributed_state=state,
    )
    apply_hardware_settings(args, setup)
    return setup


def apply_hardware_settings(args: Any, setup: DeviceSetup) -> None:
    """What transformers checks and sets from the hardware when the arguments are built.

    bf16 without a bf16 accelerator (and without use_cpu) is an error; `tf32` is applied;
    on MPS, several dataloader workers default to the "fork" start method.
    """
    check_bf16_hardware(args, uses_cpu(args))
    apply_tf32_setting(args)
    if (
        setup.device.type == "mps"
        and getattr(args, "dataloader_multiprocessing_context", "unset") is None
        and getattr(args, "dataloader_num_workers", 0) > 1
    ):
        args.dataloader_multiprocessing_context = "fork"
