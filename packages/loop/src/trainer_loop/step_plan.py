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

from collections.abc import Callable
from typing import Any

import attrs
import torch

__all__ = ["StepPlan", "distributed_kind"]

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


@attrs.frozen
class StepPlan:
    """Per-run answers to "is this accelerate wrapper a plain forward?" (see the module notes)."""

    accelerator: Any
    optimizer: Any  # the (possibly accelerate-wrapped) optimizer the plan was made for
    # The torch optimizer whose `step()` accelerate's wrapper would call, or None to go
    # through the wrapper (scaler, XLA, DeepSpeed, LOMO, or a patched wrapper class).
    inner: Any
    clip_directly: bool  # `torch.nn.utils.clip_grad_norm_` is what accelerate would run
    never_skips: bool  # `optimizer_step_was_skipped` is always False (no scaler)
    # `accelerator.backward(loss)` would only run `(loss / 1).backward()`; dividing by 1
    # changes no bit, so `loss.backward()` gives the same gradients with two ops less.
    plain_backward: bool
    optimizer_train: Callable[[], Any] | None  # schedule-free `train()`, else None

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
        )

    def matches(self, accelerator: Any, optimizer: Any) -> bool:
        return self.accelerator is accelerator and self.optimizer is optimizer

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
            return torch.nn.utils.clip_grad_norm_(parameters, max_norm)
        return self.accelerator.clip_grad_norm_(parameters, max_norm)
