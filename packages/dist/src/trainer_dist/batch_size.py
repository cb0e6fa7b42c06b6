"""`auto_find_batch_size`: retry a function with half the batch size after an out-of-memory error."""

from __future__ import annotations

import functools
import gc
import inspect
from collections.abc import Callable
from typing import Any

import torch

# Messages of out-of-memory errors raised as plain RuntimeErrors by the device back-ends.
_OOM_MESSAGES = (
    " out of memory",  # CUDA, HIP, XPU, NPU: "CUDA out of memory." / "XPU out of memory."
    "MPS backend out of memory",
    "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED.",  # cuDNN failing on too-large batches
    "DefaultCPUAllocator: can't allocate memory",
    "PT_DEVMEM Allocation failed",  # HPU
)


def should_reduce_batch_size(exception: BaseException) -> bool:
    """Whether `exception` is an out-of-memory error that a smaller batch may avoid."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(exception, oom_type):
        return True
    if isinstance(exception, RuntimeError) and exception.args:
        message = str(exception.args[0])
        return any(text in message for text in _OOM_MESSAGES)
    return False


def _clear_device_cache() -> None:
    """Free cached device memory (and the garbage still holding device tensors) before a retry."""
    modules = [
        module
        for module in (getattr(torch, name, None) for name in ("cuda", "xpu", "npu", "mlu", "musa"))
        if module is not None and module.is_available()
    ]
    if torch.backends.mps.is_available():
        modules.append(torch.mps)
    if not modules:
        return  # CPU memory is returned as soon as the failed attempt's objects are dropped
    gc.collect()
    for module in modules:
        module.empty_cache()


def _agree(out_of_memory: bool, failed: bool) -> tuple[bool, bool]:
    """(any process ran out of memory, any process failed otherwise), over all processes.

    Every process takes the same decision, so none retries (or returns) alone and
    leaves the others waiting in a collective.
    """
    from accelerate import PartialState

    if not PartialState._shared_state or PartialState().num_processes == 1:
        return out_of_memory, failed
    from accelerate.utils import reduce

    state = PartialState()
    flags = torch.tensor([float(out_of_memory), float(failed)], device=state.device)
    total = reduce(flags, reduction="sum")
    return bool(total[0].item() > 0), bool(total[1].item() > 0)


def _check_call(function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    params = list(inspect.signature(function).parameters)
    if len(params) < len(args) + 1:
        raise TypeError(
            f"Batch size was passed into `{getattr(function, '__name__', function)}` as the first "
            "argument when called; remove it, the decorator passes it."
        )


def _run_with_retries(function: Callable[..., Any], start: int, *args: Any, **kwargs: Any) -> Any:
    batch_size = start
    _check_call(function, args)
    while True:
        if batch_size == 0:
            raise RuntimeError("No executable batch size found, reached zero.")
        error: BaseException | None = None
        try:
            result = function(batch_size, *args, **kwargs)
        except Exception as exc:
            error = exc
        oom_here = error is not None and should_reduce_batch_size(error)
        any_oom, any_failed = _agree(oom_here, error is not None and not oom_here)
        if any_failed:
            if error is not None and not oom_here:
                raise error
            raise RuntimeError(
                "Another process failed while searching for a batch size."
            ) from error
        if not any_oom:
            return result
        error = None  # drop the traceback (and the tensors it holds) before retrying
        _clear_device_cache()
        batch_size //= 2


def find_executable_batch_size(
    function: Callable[..., Any] | None = None,
    starting_batch_size: int = 128,
    auto_find_batch_size: bool = True,
) -> Any:
    """Call `function(batch_size, ...)`, halving `batch_size` after each out-of-memory error.

    Usable as `@find_executable_batch_size(starting_batch_size=64)` or called directly.
    With `auto_find_batch_size=False` the function just gets `batch_size=starting_batch_size`.
    In a multi-process run all processes agree on each retry (a flag summed over them).
    """
    if function is None:
        return functools.partial(
            find_executable_batch_size,
            starting_batch_size=starting_batch_size,
            auto_find_batch_size=auto_find_batch_size,
        )
    if not auto_find_batch_size:
        return functools.partial(function, batch_size=starting_batch_size)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _run_with_retries(function, starting_batch_size, *args, **kwargs)

    return wrapper
