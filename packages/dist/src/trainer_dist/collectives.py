"""Cross-process helpers, thin wrappers over accelerate (nested tuples/lists/dicts of tensors work).

Every function also works in a single process, where it returns its input unchanged
(gather, pad, reduce) or does nothing (barrier).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:
    from accelerate import Accelerator

ReduceOp = Literal["mean", "sum"]


def gather(accelerator: Accelerator, data: Any) -> Any:
    """Concatenate `data` from all processes along dim 0 (every sample, duplicates included)."""
    return accelerator.gather(data)


def gather_for_metrics(accelerator: Accelerator, data: Any, use_gather_object: bool = False) -> Any:
    """Gather for evaluation: drops the samples duplicated to even out the last batch.

    Needs a dataloader prepared by the same accelerator (it knows the remainder).
    `use_gather_object=True` gathers arbitrary picklable python objects in memory
    (accelerate's `gather_object`; nothing touches disk).
    """
    return accelerator.gather_for_metrics(data, use_gather_object=use_gather_object)


def make_gather_function(
    accelerator: Accelerator, use_gather_object: bool = False
) -> Callable[[Any], Any]:
    """The Trainer's `gather_function`: gather_for_metrics bound to `eval_use_gather_object`."""
    return functools.partial(accelerator.gather_for_metrics, use_gather_object=use_gather_object)


def pad_across_processes(
    accelerator: Accelerator,
    data: Any,
    dim: int = 1,
    pad_index: int = -100,
    pad_first: bool = False,
) -> Any:
    """Pad tensors to the largest size along `dim` across processes (e.g. generated sequences)."""
    return accelerator.pad_across_processes(data, dim=dim, pad_index=pad_index, pad_first=pad_first)


def reduce(accelerator: Accelerator, data: Any, op: ReduceOp = "mean") -> Any:
    """Element-wise mean or sum of `data` over processes (float tensors for "mean")."""
    if op not in ("mean", "sum"):
        raise ValueError(f"reduce op must be 'mean' or 'sum', got {op!r}")
    return accelerator.reduce(data, reduction=op)


def barrier(accelerator: Accelerator) -> None:
    """Wait until every process reaches this point."""
    accelerator.wait_for_everyone()


@contextlib.contextmanager
def main_process_first(accelerator: Accelerator, local: bool = False) -> Iterator[None]:
    """Run the block on the main process (of the node with `local=True`) before the others."""
    manager = accelerator.local_main_process_first() if local else accelerator.main_process_first()
    with manager:
        yield


def is_main_process(accelerator: Accelerator, local: bool = False) -> bool:
    """Process zero of the job (or of this node with `local=True`)."""
    return bool(accelerator.is_local_main_process if local else accelerator.is_main_process)


def broadcast_scalars(accelerator: Accelerator, scalars: list[float]) -> torch.Tensor:
    """All processes' scalars gathered into one float64 tensor (transformers' flos total)."""
    tensor = torch.tensor(scalars, dtype=torch.float64, device=accelerator.device)
    return accelerator.gather(tensor)


def nested_numpify(data: Any) -> Any:
    """Tensors (nested in tuples/lists/dicts) → numpy arrays on the CPU; bf16 becomes float32."""
    if isinstance(data, (list, tuple)):
        return type(data)(nested_numpify(item) for item in data)
    if isinstance(data, dict):
        return type(data)({key: nested_numpify(value) for key, value in data.items()})
    if isinstance(data, torch.Tensor):
        tensor = data.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
            tensor = tensor.float()
        return tensor.numpy()
    return data


def shutdown_process_group() -> None:
    """Wait for every process, then tear the process group down: the end of a launched job.

    Left to interpreter exit, gloo's connection threads can abort a process whose peer has
    already exited ("terminate called without an active exception", exit code -6).
    A no-op in a single process.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
