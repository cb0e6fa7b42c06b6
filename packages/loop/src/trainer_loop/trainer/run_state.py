"""`TrainingRun`: what one `train()` call sets up and tears down, and its running loss.

transformers keeps this state in a dozen loose attributes of the trainer (`_tr_loss`,
`_total_loss_scalar`, `_globalstep_last_logged`, ...). Here it is one object, built at the
start of the inner training loop; the Trainer still answers to those names (as properties,
see `trainer_loop.trainer.Trainer`) because overridden `_maybe_log_save_evaluate` methods
read and write them.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

__all__ = ["LossAccumulator", "TrainingRun"]


class LossAccumulator:
    """The running training loss between logs, with transformers' NaN/Inf filter.

    The filter (`logging_nan_inf_filter`) adds the running average instead of a non-finite
    micro-batch loss. transformers checks every loss on the host (a device synchronisation
    per micro-batch). Here the losses are summed as they come, and the filter runs only when
    the sum is read (`settle()`, before a log): a finite sum means no loss was filtered, and
    otherwise the sum is replayed from the last settled value, applying the filter loss by
    loss. Either way the tensor holds exactly what the per-step filter would have produced
    (the same float32 operations in the same order), at one add per micro-batch.

    A Trainer that overrides `_maybe_log_save_evaluate` may read the loss on any step, so
    there the filter runs eagerly, on the device, without a synchronisation.
    """

    def __init__(self, run: TrainingRun, state: Any, nan_inf_filter: bool, lazy: bool) -> None:
        self.run = run
        self.state = state  # the TrainerState: `global_step` counts the steps since the log
        self.filter = nan_inf_filter
        self.lazy = lazy and nan_inf_filter
        self._base: torch.Tensor | None = None  # the settled sum the pending losses add to
        self._pending: list[tuple[torch.Tensor, int]] = []  # (loss, global step when added)

    def add(self, step_loss: torch.Tensor) -> None:
        tr_loss = self.run.tr_loss
        if step_loss.device != tr_loss.device:
            raise ValueError(
                f"Calculated loss must be on the original device: {tr_loss.device} but device in use is "
                f"{step_loss.device}"
            )
        if self.lazy:
            if step_loss.requires_grad:
                # An overridden training_step that returns the loss undetached: keeping it
                # until the next log would keep its whole graph (the activations) alive.
                step_loss = step_loss.detach()
            if not self._pending:
                self._base = tr_loss.clone()
            self._pending.append((step_loss, self.state.global_step))
        elif self.filter:
            # `x - x == 0` is `isfinite(x)` in two ops instead of four (inf - inf, NaN give NaN).
            finite = (step_loss - step_loss) == 0
            steps_since_log = 1 + self.state.global_step - self.run.globalstep_last_logged
            step_loss = torch.where(finite, step_loss, tr_loss / steps_since_log)
        tr_loss += step_loss

    def settle(self) -> None:
        """Make the running loss what the per-step filter gives (a no-op when it is finite)."""
        pending, self._pending = self._pending, []
        tr_loss = self.run.tr_loss
        if not pending or math.isfinite(tr_loss.item()):  # the one read: a log is due anyway
            return
        assert self._base is not None
        total = self._base
        last_logged = self.run.globalstep_last_logged
        for step_loss, global_step in pending:
            if step_loss.numel() == 1 and math.isfinite(step_loss.item()):
                total = total + step_loss
            elif step_loss.numel() == 1:
                total = total + total / (1 + global_step - last_logged)
            else:
                finite = (step_loss - step_loss) == 0
                total = total + torch.where(
                    finite, step_loss, total / (1 + global_step - last_logged)
                )
        tr_loss.copy_(total)


@attrs.define(eq=False)
class TrainingRun:
    """The per-run state of `train()`: running loss, log bookkeeping, throughput counter.

    `tr_loss` stays on the device between logs (no per-step `.item()`);
    `total_loss_scalar` sums what the logs read, for the final `train_loss`.
    """

    tr_loss: torch.Tensor
    globalstep_last_logged: int
    initial_global_step: int
    initial_num_input_tokens_seen: int
    total_loss_scalar: float = 0.0
    losses: LossAccumulator = attrs.field(init=False)
    # `TrainingThroughput`, from `on_train_begin` on (an evaluation on start is not training).
    throughput: Any = None
    # The `throughput_*` keys the next `log` adds to its `on_log` payload (never to log_history).
    log_extras: dict[str, float] | None = None
    # The last optimizer step's gradient norm (a device tensor) and learning rate, this epoch.
    grad_norm: Any = None
    learning_rate: float | None = None
    # (model, its parameters), listed once per epoch: walking the modules every step is slow.
    parameters_of: tuple[torch.nn.Module, list[torch.nn.Parameter]] | None = None
    # Answers that hold for a whole epoch, read once at its start (see `_run_epoch`).
    sync_every_batch: bool = False
    track_tokens: bool = False
    scheduler_steps_on_metrics: bool = False
    # Hooks left as they are, which `training_step` may skip (see `_keeps_default`): the
    # empty loss context, and where `_prepare_inputs` would put a batch.
    loss_context_is_empty: bool = False
    input_placement: tuple[Any, bool] | None = None

    @classmethod
    def start(cls, state: Any, device: Any, nan_inf_filter: bool, lazy: bool) -> TrainingRun:
        """A run that continues `state` (a resumed run starts from its global step)."""
        run = cls(
            tr_loss=torch.tensor(0.0, device=device),
            globalstep_last_logged=state.global_step,
            initial_global_step=state.global_step,
            initial_num_input_tokens_seen=state.num_input_tokens_seen,
        )
        run.losses = LossAccumulator(run, state, nan_inf_filter, lazy)
        return run
