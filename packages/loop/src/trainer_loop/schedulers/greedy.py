"""GreedyLR: a metric-driven scheduler that raises the lr while a metric improves.

Behaves like `transformers.GreedyLR` (arXiv 2512.14527): after more than `patience`
improving steps the lr is divided by `factor`, after more than `patience` bad steps it
is multiplied by it; `cooldown`/`warmup` pause the counting after a change; once every
group has sat at `min_lr` for `reset_start` reductions, everything starts over.
Its `state_dict()` holds only JSON types, so checkpoints need no pickle.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer


class StreamingAverage:
    """Mean of the last `window_size` values, used to smooth a noisy metric."""

    def __init__(self, window_size: int) -> None:
        self.window_size: int = window_size
        self.values: list[float] = []
        self.sum: float = 0.0

    def streamavg(self, value: float) -> float:
        """Add `value` and return the mean of the window."""
        self.values.append(value)
        self.sum += value
        if len(self.values) > self.window_size:
            self.sum -= self.values.pop(0)
        return self.sum / len(self.values)

    def state_dict(self) -> dict[str, Any]:
        return {"window_size": self.window_size, "values": self.values.copy(), "sum": self.sum}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.window_size = state_dict.get("window_size", self.window_size)
        self.values = list(state_dict.get("values", []))
        self.sum = state_dict.get("sum", 0.0)


def _per_group(
    value: float | list[float] | tuple[float, ...], n_groups: int, name: str
) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(f"expected {n_groups} {name}s, got {len(value)}")
        return list(value)
    return [value] * n_groups


# Attributes saved by state_dict(), in transformers' key order.
_STATE_KEYS = (
    "factor", "min_lrs", "max_lrs", "patience", "verbose", "cooldown", "warmup",
    "cooldown_counter", "warmup_counter", "mode", "threshold", "threshold_mode", "best",
    "num_bad_epochs", "num_good_epochs", "eps", "last_epoch", "smooth", "window_size",
    "reset_start", "reset_start_original", "_last_lr", "_init_lrs",
)  # fmt: skip


class GreedyLR:
    """Adaptive lr scheduler stepped with a metric: `scheduler.step(eval_loss)`."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.95,
        patience: int = 10,
        threshold: float = 1e-6,
        threshold_mode: str = "abs",
        cooldown: int = 0,
        warmup: int = 0,
        min_lr: float | list[float] = 1e-3,
        max_lr: float | list[float] = 1.0,
        eps: float = 1e-8,
        verbose: bool = False,
        smooth: bool = False,
        window_size: int = 50,
        reset_start: int = 500,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.warmup = cooldown, warmup
        self.cooldown_counter = self.warmup_counter = 0
        self.mode, self.threshold, self.threshold_mode, self.eps = (
            mode,
            threshold,
            threshold_mode,
            eps,
        )
        self.smooth, self.window_size = smooth, window_size
        self.reset_start = self.reset_start_original = reset_start
        self.last_epoch = 0
        n_groups = len(optimizer.param_groups)
        self.min_lrs = _per_group(min_lr, n_groups, "min_lr")
        self.max_lrs = _per_group(max_lr, n_groups, "max_lr")
        self._init_lrs: list[float] = [group["lr"] for group in optimizer.param_groups]
        self._last_lr: list[float] = self._init_lrs.copy()
        self.best: float = float("inf") if mode == "min" else float("-inf")
        self.num_bad_epochs = self.num_good_epochs = 0
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        self._streaming_avg: StreamingAverage | None = (
            StreamingAverage(window_size) if smooth else None
        )

    def step(self, metrics: float, epoch: int | None = None) -> None:
        """Count the metric as an improvement or not, and change the lr when patience runs out."""
        current = float(metrics)
        if self.smooth and self._streaming_avg is not None:
            current = self._streaming_avg.streamavg(current)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        else:
            self._count(current)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _count(self, current: float) -> None:
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
            self.num_good_epochs += 1
        else:
            self.num_bad_epochs += 1
            self.num_good_epochs = 0
        if self.num_good_epochs > self.patience:
            self._increase_lr(self.last_epoch)
            self.warmup_counter = self.warmup
            self.num_good_epochs = 0
        elif self.num_bad_epochs > self.patience:
            self._reduce_lr(self.last_epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def is_better(self, current: float, best: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (1.0 + self.threshold)
        return current > best + self.threshold

    def _reduce_lr(self, epoch: int) -> None:
        all_at_min = True
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
                if self.verbose:
                    print(f"Epoch {epoch}: reducing learning rate of group {i} to {new_lr:.4e}.")
            if group["lr"] > self.min_lrs[i]:
                all_at_min = False
        if all_at_min:
            self.reset_start -= 1
            if self.reset_start <= 0:
                self._reset()

    def _increase_lr(self, epoch: int) -> None:
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = min(old_lr / self.factor, self.max_lrs[i])
            if new_lr - old_lr > self.eps:
                group["lr"] = new_lr
                if self.verbose:
                    print(f"Epoch {epoch}: increasing learning rate of group {i} to {new_lr:.4e}.")
        self.reset_start = self.reset_start_original

    def _reset(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._init_lrs):
            group["lr"] = lr
        self.best = float("inf") if self.mode == "min" else float("-inf")
        self.num_bad_epochs = self.num_good_epochs = 0
        self.cooldown_counter = self.warmup_counter = 0
        self.reset_start = self.reset_start_original
        if self.smooth and self._streaming_avg is not None:
            self._streaming_avg = StreamingAverage(self.window_size)
        if self.verbose:
            print("Scheduler reset to initial state.")

    def get_last_lr(self) -> list[float]:
        """The lr of each param group after the last step."""
        return self._last_lr

    def state_dict(self) -> dict[str, Any]:
        state = {key: getattr(self, key) for key in _STATE_KEYS}
        if self.smooth and self._streaming_avg is not None:
            state["_streaming_avg"] = self._streaming_avg.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key in _STATE_KEYS:
            setattr(self, key, state_dict.get(key, getattr(self, key)))
        if "_streaming_avg" in state_dict:
            if self._streaming_avg is None:
                self._streaming_avg = StreamingAverage(self.window_size)
            self._streaming_avg.load_state_dict(state_dict["_streaming_avg"])
        if "_last_lr" in state_dict:
            # The lr lives in the optimizer: put back the one the scheduler last saw.
            for group, lr in zip(self.optimizer.param_groups, self._last_lr):
                group["lr"] = lr
