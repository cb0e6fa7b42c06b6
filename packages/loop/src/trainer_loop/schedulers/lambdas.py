"""Learning-rate multipliers for `LambdaLR`, as small callable classes.

`LambdaLR.state_dict()` stores the `__dict__` of every multiplier that is not a plain
function, and `load_state_dict()` puts it back. Keeping each multiplier's settings as
plain int/float/str attributes therefore makes a scheduler's whole state JSON-safe
(no closures, no pickles), while the arithmetic below follows `transformers`
operation by operation so the learning rates are bit-identical.
"""

from __future__ import annotations

import math
from typing import Any


def _cosine_to_min(progress: float, num_cycles: float, min_lr_rate: float) -> float:
    """Cosine from 1 at `progress` 0, scaled into [`min_lr_rate`, 1], never below 0."""
    # `float(num_cycles)` as transformers' cosine; the min-lr warmup variant multiplies the
    # bare value, which gives the same float for an int or a float.
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0, factor)


class Multiplier:
    """Base of the multipliers here: their settings are the schedule's shape.

    The shape comes from the training arguments (type, warmup, total steps, kwargs), so a
    resumed run rebuilds it from its own arguments and takes only the position (step count,
    base and last learning rates) from the checkpoint, as transformers does: see
    `without_saved_shape`.
    """

    def __call__(self, current_step: int) -> float:
        raise NotImplementedError


def without_saved_shape(state: dict[str, Any], scheduler: Any) -> dict[str, Any]:
    """A `LambdaLR` state whose saved settings of our multipliers are left out.

    `LambdaLR.load_state_dict` skips a `None` entry of `lr_lambdas`, so the multipliers the
    current arguments built stay as they are; a user's own callable multiplier is restored
    as torch restores it.
    """
    saved = state.get("lr_lambdas")
    current = getattr(scheduler, "lr_lambdas", None)
    if not isinstance(saved, list) or current is None or len(saved) != len(current):
        return state
    kept = [None if isinstance(fn, Multiplier) else entry for fn, entry in zip(current, saved)]
    return {**state, "lr_lambdas": kept}


class ConstantLambda(Multiplier):
    """Multiplier 1: the optimizer's learning rate, unchanged."""

    def __call__(self, current_step: int) -> float:
        return 1


class _LinearWarmup(Multiplier):
    """Linear warmup from 0 over `num_warmup_steps`, then `_after_warmup`.

    Most transformers schedules open with this same warmup; the subclasses hold only
    what follows it.
    """

    def __init__(self, num_warmup_steps: int) -> None:
        self.num_warmup_steps = num_warmup_steps

    def __call__(self, current_step: int) -> float:
        if current_step < self.num_warmup_steps:
            return float(current_step) / float(max(1, self.num_warmup_steps))
        return self._after_warmup(current_step)

    def _after_warmup(self, current_step: int) -> float:
        raise NotImplementedError


class _WarmupThenDecay(_LinearWarmup):
    """A linear warmup, then a decay that ends at `num_training_steps`."""

    def __init__(self, num_warmup_steps: int, num_training_steps: int) -> None:
        super().__init__(num_warmup_steps)
        self.num_training_steps = num_training_steps

    def _progress(self, current_step: int) -> float:
        """The fraction of the decay phase done, 0 at the end of warmup."""
        warmup, total = self.num_warmup_steps, self.num_training_steps
        return float(current_step - warmup) / float(max(1, total - warmup))


class ConstantWithWarmupLambda(_LinearWarmup):
    """Linear warmup from 0, then 1."""

    # transformers divides by `max(1.0, warmup)` here, by `max(1, warmup)` elsewhere:
    # both are the same float for every warmup, so the shared warmup serves.
    def _after_warmup(self, current_step: int) -> float:
        return 1.0


class LinearWithWarmupLambda(_WarmupThenDecay):
    """Linear warmup from 0, then linear decay to 0 at `num_training_steps`."""

    def _after_warmup(self, current_step: int) -> float:
        warmup, total = self.num_warmup_steps, self.num_training_steps
        return max(0.0, float(total - current_step) / float(max(1, total - warmup)))


class CosineWithWarmupLambda(_WarmupThenDecay):
    """Linear warmup, then cosine from 1 down to `min_lr_rate` over `num_cycles` waves.

    The plain `cosine` schedule is this with `min_lr_rate=0.0` (as in transformers,
    where both share one multiplier: `x * 1.0 + 0.0` leaves every float unchanged).
    """

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int,
        num_cycles: float,
        min_lr_rate: float = 0.0,
    ) -> None:
        super().__init__(num_warmup_steps, num_training_steps)
        self.num_cycles = num_cycles
        self.min_lr_rate = min_lr_rate

    def _after_warmup(self, current_step: int) -> float:
        return _cosine_to_min(self._progress(current_step), self.num_cycles, self.min_lr_rate)


class CosineWithHardRestartsLambda(_WarmupThenDecay):
    """Linear warmup, then `num_cycles` cosine decays to 0, each restarting at 1."""

    def __init__(self, num_warmup_steps: int, num_training_steps: int, num_cycles: int) -> None:
        super().__init__(num_warmup_steps, num_training_steps)
        self.num_cycles = num_cycles

    def _after_warmup(self, current_step: int) -> float:
        progress = self._progress(current_step)
        if progress >= 1.0:
            return 0.0
        return max(
            0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(self.num_cycles) * progress) % 1.0)))
        )


class PolynomialDecayLambda(_WarmupThenDecay):
    """Linear warmup, then polynomial decay from `lr_init` to `lr_end`, then `lr_end`.

    `LambdaLR` multiplies by the initial lr, so the target lr is divided by `lr_init`.
    """

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int,
        lr_end: float,
        power: float,
        lr_init: float,
    ) -> None:
        super().__init__(num_warmup_steps, num_training_steps)
        self.lr_end = lr_end
        self.power = power
        self.lr_init = lr_init

    def _after_warmup(self, current_step: int) -> float:
        warmup, total = self.num_warmup_steps, self.num_training_steps
        if current_step > total:
            return self.lr_end / self.lr_init
        lr_range = self.lr_init - self.lr_end
        decay_steps = total - warmup
        pct_remaining = 1 - (current_step - warmup) / decay_steps
        decay = lr_range * pct_remaining**self.power + self.lr_end
        return decay / self.lr_init


class InverseSqrtLambda(_LinearWarmup):
    """Linear warmup, then `1 / sqrt((step + timescale - warmup) / timescale)`."""

    def __init__(self, num_warmup_steps: int, timescale: int) -> None:
        super().__init__(num_warmup_steps)
        self.timescale = timescale

    def _after_warmup(self, current_step: int) -> float:
        shift = self.timescale - self.num_warmup_steps
        return 1.0 / math.sqrt((current_step + shift) / self.timescale)


class CosineWarmupWithMinLrLambda(Multiplier):
    """`cosine_warmup_with_min_lr`: a warmup that starts above 0, then cosine to `min_lr_rate`.

    Unlike the other warmups this one counts from step + 1 (or from `warmup_lr_rate`),
    so the first step does not run at lr 0; the cosine phase is shifted by one step too.
    """

    def __init__(
        self,
        num_warmup_steps: int,
        num_training_steps: int,
        num_cycles: float,
        min_lr_rate: float = 0.0,
        warmup_lr_rate: float | None = None,
    ) -> None:
        self.num_warmup_steps = num_warmup_steps
        self.num_training_steps = num_training_steps
        self.num_cycles = num_cycles
        self.min_lr_rate = min_lr_rate
        self.warmup_lr_rate = warmup_lr_rate

    def __call__(self, current_step: int) -> float:
        step = float(current_step)
        warmup = float(self.num_warmup_steps)
        total = float(self.num_training_steps)
        if step < warmup:
            if self.warmup_lr_rate is None:
                return (step + 1.0) / max(1.0, warmup)
            rate = float(self.warmup_lr_rate)
            return rate + (1.0 - rate) * (step) / (max(1, warmup - 1))
        progress = (step - warmup + 1.0) / (max(1.0, total - warmup))
        return _cosine_to_min(progress, self.num_cycles, self.min_lr_rate)


WSD_SHAPES = ("linear", "cosine", "1-sqrt")


class WarmupStableDecayLambda(Multiplier):
    """Warmup (linear/cosine/1-sqrt) from `min_lr_ratio` to 1, stable at 1, decay back, then `min_lr_ratio`."""

    def __init__(
        self,
        num_warmup_steps: int,
        num_stable_steps: int,
        num_decay_steps: int,
        warmup_type: str,
        decay_type: str,
        min_lr_ratio: float,
        num_cycles: float,
    ) -> None:
        self.num_warmup_steps = num_warmup_steps
        self.num_stable_steps = num_stable_steps
        self.num_decay_steps = num_decay_steps
        self.warmup_type = warmup_type
        self.decay_type = decay_type
        self.min_lr_ratio = min_lr_ratio
        self.num_cycles = num_cycles

    def _rescale(self, factor: float) -> float:
        return max(0.0, factor * (1.0 - self.min_lr_ratio) + self.min_lr_ratio)

    def _warmup_factor(self, progress: float) -> float:
        if self.warmup_type == "cosine":
            return 0.5 * (1.0 - math.cos(math.pi * progress))
        if self.warmup_type == "1-sqrt":
            return 1.0 - math.sqrt(1.0 - progress)
        return progress

    def _decay_factor(self, progress: float) -> float:
        if self.decay_type == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * float(self.num_cycles) * 2.0 * progress))
        if self.decay_type == "1-sqrt":
            return 1.0 - math.sqrt(progress)
        return 1.0 - progress

    def __call__(self, current_step: int) -> float:
        warmup, stable, decay = self.num_warmup_steps, self.num_stable_steps, self.num_decay_steps
        if current_step < warmup:
            progress = float(current_step) / float(max(1, warmup))
            return self._rescale(self._warmup_factor(progress))
        if current_step < warmup + stable:
            return 1.0
        if current_step < warmup + stable + decay:
            progress = float(current_step - warmup - stable) / float(max(1, decay))
            return self._rescale(self._decay_factor(progress))
        return self.min_lr_ratio
