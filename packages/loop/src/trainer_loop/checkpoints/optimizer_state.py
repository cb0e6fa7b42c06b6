"""Optimizer, scheduler and GradScaler states: tensors in safetensors, the rest in JSON.

Everything a `load_state_dict` needs comes back bit for bit, so training continues exactly
as if it had never stopped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from trainer_loop.checkpoints.codec import read_state, write_state
from trainer_loop.checkpoints.file_errors import reading, writing
from trainer_loop.checkpoints.names import (
    OPTIMIZER_JSON,
    OPTIMIZER_TENSORS,
    SCALER_JSON,
    SCALER_TENSORS,
    SCHEDULER_JSON,
    SCHEDULER_TENSORS,
    refuse_pickles,
)

logger = logging.getLogger(__name__)


def is_fsdp_model(model: Any) -> bool:
    """FSDP keeps optimizer states sharded: they must be gathered/scattered by parameter name."""
    if model is None:
        return False
    return any(
        type(module).__name__ in ("FullyShardedDataParallel", "FSDPModule")
        or type(module).__name__.startswith("FSDP")
        for module in model.modules()
    )


def optimizer_state_dict(optimizer: Any, model: Any = None) -> dict[str, Any]:
    """The full optimizer state; collective under FSDP (call it on every process)."""
    if is_fsdp_model(model):
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return dict(get_optimizer_state_dict(model, optimizer, options=options))
    return dict(optimizer.state_dict())


def save_optimizer(optimizer: Any, folder: Path, state: dict[str, Any] | None = None) -> None:
    """`optimizer.json` (+ `optimizer.safetensors`) from `state` or `optimizer.state_dict()`."""
    state = optimizer.state_dict() if state is None else state
    write_state(folder / OPTIMIZER_JSON, folder / OPTIMIZER_TENSORS, state)


def save_scheduler(scheduler: Any, folder: Path) -> None:
    """`scheduler.json`; the optim helper's JSON form when it exists, else ours (tensors too)."""
    try:
        from trainer_loop.schedulers import scheduler_state_to_json
    except ImportError:
        encoded = None
    else:
        try:
            encoded = {"format_version": 1, "scheduler_json": scheduler_state_to_json(scheduler)}
        except TypeError:  # e.g. tensors in the state: our format keeps them in safetensors
            encoded = None
    if encoded is None:
        write_state(folder / SCHEDULER_JSON, folder / SCHEDULER_TENSORS, scheduler.state_dict())
        return
    text = json.dumps(encoded, allow_nan=False) + "\n"
    with writing(folder / SCHEDULER_JSON):
        (folder / SCHEDULER_JSON).write_text(text, encoding="utf-8")


def save_scaler(scaler: Any, folder: Path) -> None:
    """`scaler.json` when a GradScaler is in use (fp16 on GPU), as transformers writes scaler.pt."""
    if scaler is None:
        return
    state = scaler.state_dict()
    if state:  # a disabled GradScaler has an empty state, which it refuses to load back
        write_state(folder / SCALER_JSON, folder / SCALER_TENSORS, state)


def _load_scheduler(scheduler: Any, folder: Path) -> None:
    """The checkpoint's position; the schedule's shape stays the one the current arguments built."""
    from trainer_loop.schedulers.lambdas import without_saved_shape

    with reading(folder / SCHEDULER_JSON):
        document = json.loads((folder / SCHEDULER_JSON).read_text(encoding="utf-8"))
    if isinstance(document, dict) and "scheduler_json" in document:
        from trainer_loop.schedulers.state_json import decode_scheduler_state

        state = decode_scheduler_state(document["scheduler_json"])
    else:
        state = read_state(folder / SCHEDULER_JSON, folder / SCHEDULER_TENSORS)
    scheduler.load_state_dict(without_saved_shape(state, scheduler))


def _load_optimizer(optimizer: Any, folder: Path, model: Any) -> None:
    state = read_state(folder / OPTIMIZER_JSON, folder / OPTIMIZER_TENSORS)
    if is_fsdp_model(model):
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_optimizer_state_dict,
        )

        options = StateDictOptions(full_state_dict=True)
        set_optimizer_state_dict(model, optimizer, state, options=options)
        return
    _check_shapes(optimizer, state, folder)
    optimizer.load_state_dict(state)


# State entries torch's optimizers keep with the parameter's shape. Fused kernels trust them
# without checking: a wrong one is read and written out of bounds.
_PARAMETER_SHAPED = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                     "acc_delta", "sum", "ax", "grad_avg", "prev", "exp_inf")  # fmt: skip


def _check_shapes(optimizer: Any, state: dict[str, Any], folder: Path) -> None:
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer
    if not type(inner).__module__.startswith("torch.optim"):
        return  # other optimizers (GaLore, Adafactor, ...) may keep states of other shapes
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, entries in state.get("state", {}).items():
        if not isinstance(index, int) or not 0 <= index < len(params):
            raise ValueError(f"{folder / OPTIMIZER_JSON}: state for unknown parameter {index!r}")
        for key in _PARAMETER_SHAPED:
            value = entries.get(key)
            if value is not None and tuple(value.shape) != tuple(params[index].shape):
                raise ValueError(
                    f"{folder / OPTIMIZER_TENSORS}: optimizer state {key!r} of parameter {index} "
                    f"has shape {tuple(value.shape)}, the parameter {tuple(params[index].shape)}"
                )


def load_checkpoint_optimizer_and_scheduler(
    optimizer: Any, scheduler: Any, scaler: Any, folder: str | Path, *, model: Any = None
) -> bool:
    """Restore optimizer and scheduler (both files present, as transformers), then the scaler.

    Without a scheduler (`scheduler=None`) the optimizer alone is restored.

    Returns False when the checkpoint has no optimizer state (`save_only_model`). Raises
    CheckpointFormatError when it has transformers' pickles (`optimizer.pt`) instead.
    Pass `model` when it is FSDP-wrapped (the state is stored unsharded, by parameter name).
    """
    folder = Path(folder)
    loaded = False
    has_scheduler = (folder / SCHEDULER_JSON).is_file() or scheduler is None
    if (folder / OPTIMIZER_JSON).is_file() and has_scheduler:
        _load_optimizer(optimizer, folder, model)
        if scheduler is not None:
            _load_scheduler(scheduler, folder)
        loaded = True
    else:
        refuse_pickles(
            folder, "optimizer and scheduler", ("optimizer.pt", "optimizer.bin", "scheduler.pt")
        )
    if scaler is not None and (folder / SCALER_JSON).is_file():
        scaler.load_state_dict(read_state(folder / SCALER_JSON, folder / SCALER_TENSORS))
    elif scaler is not None:
        refuse_pickles(folder, "gradient scaler", ("scaler.pt",))
    return loaded
