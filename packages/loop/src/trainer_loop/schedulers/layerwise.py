"""Stand-ins for layer-wise optimizers (GaLore/APOLLO `*_layerwise`).

Such an optimizer runs one inner optimizer per parameter inside a post-accumulate-grad
hook, so the Trainer's own `optimizer.step()` and `scheduler.step()` must do nothing:
these dummies keep the Trainer's loop unchanged, as transformers' do.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class LayerWiseDummyOptimizer(Optimizer):
    """No-op optimizer holding `optimizer_dict` (parameter -> its own optimizer)."""

    def __init__(
        self, optimizer_dict: dict[torch.Tensor, Optimizer] | None = None, **kwargs: Any
    ) -> None:
        self.optimizer_dict = optimizer_dict if optimizer_dict is not None else {}
        # torch needs one parameter; zeros rather than randn so the global RNG is left alone.
        super().__init__([torch.zeros(1, 1)], {"lr": kwargs.get("lr", 1e-03)})

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        pass


class LayerWiseDummyScheduler(LRScheduler):
    """No-op scheduler whose learning rates are those of the inner optimizers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.default_lr = kwargs["lr"]
        super().__init__(LayerWiseDummyOptimizer(**kwargs), -1)

    def step(self, epoch: int | None = None) -> None:
        """Count the step and report the inner lrs; the inner schedulers step in the grad hooks.

        torch's own step writes one lr per param group of the dummy optimizer (it has one),
        which fails on torch >= 2.13 (zip strict) when there are several inner lrs; nothing
        needs writing here, so the step only records them.
        """
        self._step_count += 1
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        self._last_lr = list[float | torch.Tensor](self.get_lr())

    def get_lr(self) -> list[float]:  # type: ignore[override]
        optimizer = self.optimizer
        if isinstance(optimizer, LayerWiseDummyOptimizer) and optimizer.optimizer_dict:
            return list(chain.from_iterable(
                [group["lr"] for group in inner.param_groups] for inner in optimizer.optimizer_dict.values()
            ))  # fmt: skip
        return [self.default_lr]

    def _get_closed_form_lr(self) -> list[Any]:
        return list(self.base_lrs)


def get_layerwise_scheduler(
    optimizer: LayerWiseDummyOptimizer, build: Callable[[Optimizer], Any]
) -> LayerWiseDummyScheduler:
    """Build one schedule per inner optimizer, step each in its parameter's grad hook."""
    schedulers = {param: build(inner) for param, inner in optimizer.optimizer_dict.items()}

    def scheduler_hook(param: torch.Tensor) -> None:
        # The optimizer hook, registered first, has already stepped and zeroed this parameter.
        schedulers[param].step()

    for param in optimizer.optimizer_dict:
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(scheduler_hook)
    return LayerWiseDummyScheduler(
        optimizer_dict=optimizer.optimizer_dict, lr=optimizer.defaults["lr"]
    )
