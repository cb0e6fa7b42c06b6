"""Adafactor (Shazeer & Stern, 2018), step for step as `transformers.Adafactor`.

The Trainer uses it with an external learning rate (`scale_parameter=False`,
`relative_step=False`); the relative-step mode and `AdafactorSchedule` are kept for
users who build it themselves. Half-precision parameters are updated in fp32 and
copied back, as transformers does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

_HALF = (torch.float16, torch.bfloat16)


class Adafactor(Optimizer):
    """Factored second-moment optimizer; see `transformers.Adafactor` for every option."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float | None = None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = True,
        warmup_init: bool = False,
    ) -> None:
        if lr is not None and relative_step:
            raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
        if warmup_init and not relative_step:
            raise ValueError("`warmup_init=True` requires `relative_step=True`")
        defaults = {
            "lr": lr,
            "eps": eps,
            "clip_threshold": clip_threshold,
            "decay_rate": decay_rate,
            "beta1": beta1,
            "weight_decay": weight_decay,
            "scale_parameter": scale_parameter,
            "relative_step": relative_step,
            "warmup_init": warmup_init,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _get_lr(param_group: dict[str, Any], param_state: dict[str, Any]) -> Any:
        """The step size: the external lr, or the relative one, times the parameter scale."""
        rel_step_sz = param_group["lr"]
        if param_group["relative_step"]:
            min_step = 1e-6 * param_state["step"] if param_group["warmup_init"] else 1e-2
            rel_step_sz = min(min_step, 1.0 / math.sqrt(param_state["step"]))
        param_scale = 1.0
        if param_group["scale_parameter"]:
            param_scale = max(param_group["eps"][1], param_state["RMS"])
        return param_scale * rel_step_sz

    @staticmethod
    def _get_options(param_group: dict[str, Any], param_shape: torch.Size) -> tuple[bool, bool]:
        """(factored second moment?, first moment kept?) for a parameter of this shape."""
        return len(param_shape) >= 2, param_group["beta1"] is not None

    @staticmethod
    def _rms(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.norm(2) / (tensor.numel() ** 0.5)

    @staticmethod
    def _approx_sq_grad(exp_avg_sq_row: torch.Tensor, exp_avg_sq_col: torch.Tensor) -> torch.Tensor:
        """Rank-1 reconstruction of 1/sqrt(second moment) from its row and column means."""
        r_factor = (
            (exp_avg_sq_row / exp_avg_sq_row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
        )
        c_factor = exp_avg_sq_col.unsqueeze(-2).rsqrt()
        return torch.mul(r_factor, c_factor)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One update of every parameter that has a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(group, p)
        return loss

    def _init_state(
        self, state: dict[str, Any], grad: torch.Tensor, factored: bool, first: bool
    ) -> None:
        shape = grad.shape
        state["step"] = 0
        if first:
            state["exp_avg"] = torch.zeros_like(grad)
        if factored:
            state["exp_avg_sq_row"] = torch.zeros(shape[:-1]).to(grad)
            state["exp_avg_sq_col"] = torch.zeros(shape[:-2] + shape[-1:]).to(grad)
        else:
            state["exp_avg_sq"] = torch.zeros_like(grad)
        state["RMS"] = 0

    def _move_state(
        self, state: dict[str, Any], grad: torch.Tensor, factored: bool, first: bool
    ) -> None:
        # State loaded from a checkpoint may sit on another device or dtype.
        keys = (["exp_avg"] if first else []) + (
            ["exp_avg_sq_row", "exp_avg_sq_col"] if factored else ["exp_avg_sq"]
        )
        for key in keys:
            state[key] = state[key].to(grad)

    def _second_moment_update(
        self, state: dict[str, Any], grad: torch.Tensor, beta2t: float, eps0: float, factored: bool
    ) -> torch.Tensor:
        update = (grad**2) + eps0
        if factored:
            row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
            row.mul_(beta2t).add_(update.mean(dim=-1), alpha=(1.0 - beta2t))
            col.mul_(beta2t).add_(update.mean(dim=-2), alpha=(1.0 - beta2t))
            update = self._approx_sq_grad(row, col)
            return update.mul_(grad)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2t).add_(update, alpha=(1.0 - beta2t))
        return exp_avg_sq.rsqrt().mul_(grad)

    def _update(self, group: dict[str, Any], p: torch.Tensor) -> None:
        assert p.grad is not None
        grad = p.grad.float() if p.grad.dtype in _HALF else p.grad
        if grad.is_sparse:
            raise RuntimeError("Adafactor does not support sparse gradients.")
        state = self.state[p]
        factored, first = self._get_options(group, grad.shape)
        if len(state) == 0:
            self._init_state(state, grad, factored, first)
        else:
            self._move_state(state, grad, factored, first)
        p_fp32 = p.float() if p.dtype in _HALF else p
        state["step"] += 1
        state["RMS"] = self._rms(p_fp32)
        lr = self._get_lr(group, state)
        beta2t = 1.0 - math.pow(state["step"], group["decay_rate"])
        update = self._second_moment_update(state, grad, beta2t, group["eps"][0], factored)
        update.div_((self._rms(update) / group["clip_threshold"]).clamp_(min=1.0))
        update.mul_(lr)
        if first:
            exp_avg = state["exp_avg"]
            exp_avg.mul_(group["beta1"]).add_(update, alpha=(1 - group["beta1"]))
            update = exp_avg
        if group["weight_decay"] != 0:
            p_fp32.add_(p_fp32, alpha=(-group["weight_decay"] * lr))
        p_fp32.add_(-update)
        if p.dtype in _HALF:
            p.copy_(p_fp32)


class _ConstantMultiplier:
    """`LambdaLR` multiplier kept as data (not a closure) so the state stays JSON-safe."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, current_step: int) -> float:
        return self.value


class AdafactorSchedule(LambdaLR):
    """Reports Adafactor's own step size as the lr (for logging); `initial_lr` before the first step."""

    def __init__(self, optimizer: Adafactor, initial_lr: float = 0.0) -> None:
        for group in optimizer.param_groups:
            group["initial_lr"] = initial_lr
        super().__init__(optimizer, _ConstantMultiplier(initial_lr))
        for group in optimizer.param_groups:
            del group["initial_lr"]

    def get_lr(self) -> list[Any]:  # type: ignore[override]
        opt = self.optimizer
        assert isinstance(opt, Adafactor)
        lrs = [
            opt._get_lr(group, opt.state[group["params"][0]])
            for group in opt.param_groups
            if group["params"][0].grad is not None
        ]
        return lrs if lrs else list(self.base_lrs)


def get_adafactor_schedule(optimizer: Adafactor, initial_lr: float = 0.0) -> AdafactorSchedule:
    """The proxy schedule to pair with a relative-step Adafactor."""
    return AdafactorSchedule(optimizer, initial_lr)
