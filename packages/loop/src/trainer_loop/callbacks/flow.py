"""`DefaultFlowCallback`: decides when the loop logs, evaluates, saves and stops.

The schedule is exactly transformers' (checked side by side in the tests). Strategies are
compared with their string values, so transformers' enums and ours both work.
"""

from __future__ import annotations

from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["DefaultFlowCallback"]

_STEPS = "steps"
_EPOCH = "epoch"


class DefaultFlowCallback(TrainerCallback):
    """Sets `should_log`/`should_evaluate`/`should_save`/`should_training_stop` from the args.

    `state.logging_steps`, `eval_steps` and `save_steps` are the absolute values computed by
    `TrainerState.compute_steps`. At the last step a steps-based eval strategy evaluates (unless
    that step was already due) and a steps-based save strategy saves; there is no forced log.
    """

    def on_step_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        step = state.global_step
        if step == 1 and args.logging_first_step:
            control.should_log = True
        if args.logging_strategy == _STEPS and step % state.logging_steps == 0:
            control.should_log = True

        eval_by_steps = args.eval_strategy == _STEPS and args.eval_delay <= step
        if eval_by_steps and step % state.eval_steps == 0:
            control.should_evaluate = True

        if args.save_strategy == _STEPS and state.save_steps > 0 and step % state.save_steps == 0:
            control.should_save = True

        if step >= state.max_steps:
            control.should_training_stop = True
            # Evaluate/save the final step too, unless it already was due.
            if eval_by_steps and step % state.eval_steps != 0:
                control.should_evaluate = True
            if args.save_strategy == _STEPS:
                control.should_save = True
        return control

    def on_epoch_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> TrainerControl:
        if args.logging_strategy == _EPOCH:
            control.should_log = True
        if args.eval_strategy == _EPOCH and args.eval_delay <= state.epoch:
            control.should_evaluate = True
        if args.save_strategy == _EPOCH:
            control.should_save = True
        return control
