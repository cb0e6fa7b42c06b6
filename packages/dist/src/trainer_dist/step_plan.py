"""What a training step may skip, decided once per optimizer instead of on every step.

accelerate routes every step through wrappers built for the general case (gradient scaler,
XLA, DeepSpeed, LOMO, DTensor parameters). For a run that uses none of them, each wrapper
only forwards to the plain torch call after a handful of property reads, an environment
variable parse and an import check: about 15% of a step of a tiny model on one CPU thread.
`StepPlan` records, for one (accelerator, optimizer) pair, which wrappers are pure
forwarding, so the loop calls the torch function they would have called: the same
operations in the same order, hence bitwise-identical results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch

try:  # torch 2.6+, which accelerate 1.16's clipping needs too
    from torch.nn.utils import clip_grads_with_norm_, get_total_norm
except ImportError:  # pragma: no cover - older torch: accelerate clips with clip_grad_norm_
    clip_grads_with_norm_ = get_total_norm = None  # type: ignore[assignment]

__all__ = ["StepPlan", "distributed_kind", "fast_package_checks", "set_sync_gradients"]

# Distributed types whose `clip_grad_norm_` and optimizer step are plain torch calls once
# there is no scaler (DDP reduces gradients in backward; FSDP, DeepSpeed, Megatron and XLA
# clip and step through their own engines).
_PLAIN_TYPES = frozenset({"NO", "MULTI_CPU", "MULTI_GPU", "MULTI_NPU", "MULTI_MLU",
                          "MULTI_SDAA", "MULTI_MUSA", "MULTI_XPU", "MULTI_HPU"})  # fmt: skip


def distributed_kind(accelerator: Any) -> str:
    """accelerate's `DistributedType` of `accelerator` as its plain name ("NO", "FSDP", ...)."""
    kind = accelerator.distributed_type
    return str(getattr(kind, "value", kind))


def _is_lomo(optimizer: Any) -> bool:
    return type(optimizer).__name__ in ("Lomo", "AdaLomo")


def _has_dtensor(optimizer: Any) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed support
        return False
    return any(isinstance(p, DTensor) for group in optimizer.param_groups for p in group["params"])


def _mode_switch(optimizer: Any, mode: str) -> Callable[[], Any] | None:
    """The inner optimizer's `train`/`eval` (schedule-free optimizers), as accelerate finds it."""
    inner = getattr(optimizer, "optimizer", optimizer)
    for candidate in (inner, getattr(inner, "optimizer", None)):
        method = getattr(candidate, mode, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return None


def _backward_is_plain(accelerator: Any, optimizer: Any) -> bool:
    """No scaler, no DeepSpeed/Megatron engine, accelerate's own accumulation at 1 step,
    `backward` not replaced, and no LOMO (which fuses its update into backward)."""
    return (
        accelerator.gradient_accumulation_steps == 1
        and accelerator.scaler is None
        and distributed_kind(accelerator) not in ("DEEPSPEED", "MEGATRON_LM")
        and "backward" not in vars(accelerator)
        and getattr(type(accelerator).backward, "__qualname__", "") == "Accelerator.backward"
        and not _is_lomo(optimizer)
    )


@functools.cache
def _norm_of_one_is_itself(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether `vector_norm` of a one-element vector is that element, bit for bit, here.

    torch 2.13 answers `abs(x)` for one element (a non-negative norm is unchanged). A build
    that reduces instead squares and takes the root, exact only with a wider accumulator; in
    the norm's own dtype the square under- or overflows for extreme norms, which the probes
    (a subnormal, the largest finite value, infinity) catch. Asked once per device and dtype.
    """
    info = torch.finfo(dtype)
    probe = torch.tensor(
        [0.0, 3.0, info.smallest_normal / 4, info.max, float("inf")], dtype=dtype, device=device
    )
    norms = torch.stack([torch.linalg.vector_norm(x.unsqueeze(0), 2.0) for x in probe])
    return torch.equal(norms, probe)


def _norm_then_clip(parameters: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """accelerate 1.16's clipping for parameters on one device mesh, with its results.

    It takes the norm of the per-mesh norms (here one) and does not scale at all when
    `max_norm` is infinite, so an infinite gradient stays as it is where torch's
    `clip_grad_norm_` would multiply it by NaN. The norm of the one norm is skipped where it
    is known to change no bit (`_norm_of_one_is_itself`): four ops, about 1.5% of a tiny
    model's step on the CPU. Its per-parameter DTensor grouping is left out: a plan clips
    directly only when no parameter is a DTensor.
    """
    with_grad = [p for p in parameters if p.grad is not None]
    grads = [p.grad for p in with_grad if p.grad is not None]
    if not grads:
        total_norm = torch.linalg.vector_norm(torch.zeros(1), 2.0)
    else:
        total_norm = get_total_norm(grads, 2.0)
        if not _norm_of_one_is_itself(total_norm.device, total_norm.dtype):
            total_norm = torch.linalg.vector_norm(total_norm.unsqueeze(0), 2.0)
    if max_norm != float("inf"):
        clip_grads_with_norm_(with_grad, max_norm, total_norm)
    return total_norm


def _clip_function(accelerator: Any) -> Callable[..., Any]:
    """The clipping `accelerator.clip_grad_norm_` runs after its checks, for its version."""
    if hasattr(accelerator, "_clip_grad_norm_dtensor_aware") and get_total_norm is not None:
        return _norm_then_clip  # accelerate 1.16+
    return torch.nn.utils.clip_grad_norm_


@dataclasses.dataclass(frozen=True)
class StepPlan:
    """Per-run answers to "is this accelerate wrapper a plain forward?" (see the module notes)."""

    accelerator: Any
    optimizer: Any  # the (possibly accelerate-wrapped) optimizer the plan was made for
    # The torch optimizer whose `step()` accelerate's wrapper would call, or None to go
    # through the wrapper (scaler, XLA, DeepSpeed, LOMO, or a patched wrapper class).
    inner: Any
    clip_directly: bool  # `clip_function` is what accelerate would run
    never_skips: bool  # `optimizer_step_was_skipped` is always False (no scaler)
    # `accelerator.backward(loss)` would only run `(loss / 1).backward()`; dividing by 1
    # changes no bit, so `loss.backward()` gives the same gradients with two ops less.
    plain_backward: bool
    optimizer_train: Callable[[], Any] | None  # schedule-free `train()`, else None
    # What `accelerator.clip_grad_norm_` computes once its checks are done (see `_clip_functions`).
    clip_function: Callable[..., Any] = torch.nn.utils.clip_grad_norm_

    @classmethod
    def build(cls, accelerator: Any, optimizer: Any) -> StepPlan:
        plain = (
            accelerator.scaler is None
            and distributed_kind(accelerator) in _PLAIN_TYPES
            and "clip_grad_norm_" not in vars(accelerator)
        )
        inner = getattr(optimizer, "optimizer", None)
        wrapper_step = type(optimizer).__dict__.get("step")
        forwards = (
            plain
            and inner is not None
            and type(optimizer).__name__ == "AcceleratedOptimizer"
            and getattr(wrapper_step, "__module__", "") == "accelerate.optimizer"
            and not _is_lomo(inner)
        )
        return cls(
            accelerator=accelerator,
            optimizer=optimizer,
            inner=inner if forwards else None,
            clip_directly=plain and optimizer is not None and not _has_dtensor(optimizer),
            # Only accelerate's own wrapper, without a scaler, is known never to skip.
            never_skips=forwards,
            plain_backward=_backward_is_plain(
                accelerator, inner if inner is not None else optimizer
            ),
            optimizer_train=_mode_switch(optimizer, "train") if optimizer is not None else None,
            clip_function=_clip_function(accelerator),
        )

    def step_optimizer(self, optimizer: Any) -> None:
        """`optimizer.step()`, without accelerate's wrapper when it would only forward.

        A `step` patched on the instance (a test double, a user hook) is always honoured,
        except torch's own LR-scheduler marker, whose one effect is reproduced.
        """
        if self.inner is None:
            optimizer.step()
            return
        patched = vars(optimizer).get("step")
        if patched is None:
            self.inner.step()
        elif getattr(patched, "_wrapped_by_lr_sched", False):
            # An LR scheduler wraps `step` to note that it ran (it warns otherwise).
            optimizer._opt_called = True
            self.inner.step()
        else:
            optimizer.step()

    def clip(self, parameters: list[torch.nn.Parameter], max_norm: float) -> Any:
        if self.clip_directly:
            return self.clip_function(parameters, max_norm)
        return self.accelerator.clip_grad_norm_(parameters, max_norm)


def set_sync_gradients(accelerator: Any, sync: bool) -> None:
    """Tell accelerate whether this micro-batch ends the optimizer step.

    The loop fetches a whole step's micro-batches ahead, so accelerate cannot tell by itself;
    its optimizer wrapper skips `step()` while this is False. Set only on a change: the
    setter also probes for a TPU.
    """
    state = accelerator.gradient_state
    if state.sync_gradients != sync:
        state._set_sync_gradients(sync)


@contextlib.contextmanager
def fast_package_checks() -> Iterator[None]:
    """Within the block, cache two checks accelerate repeats on every optimizer step.

    `is_lomo_available()` runs an uncached `importlib` search (twice per `optimizer.step()`),
    `is_torch_version()` parses version strings in every `clip_grad_norm_`: about 100 µs a
    step on the CPU. Installed packages do not change during a run, so the cached answers are
    the same; the original functions are put back when the block ends.
    """
    import accelerate.accelerator as accelerator_module
    import accelerate.optimizer as optimizer_module

    saved = []
    for module, name in (
        (optimizer_module, "is_lomo_available"),
        (accelerator_module, "is_torch_version"),
    ):
        check = getattr(module, name, None)
        if check is not None and not hasattr(check, "cache_info"):
            saved.append((module, name, check))
            setattr(module, name, functools.cache(check))
    try:
        yield
    finally:
        for module, name, check in saved:
            setattr(module, name, check)
