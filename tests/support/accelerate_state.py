"""accelerate keeps process-wide singletons; two Trainers in one process need them reset."""

from __future__ import annotations


def reset_accelerate() -> None:
    """Forget AcceleratorState (with PartialState) and GradientState, so that the next
    Trainer, ours or transformers', sets accelerate up from scratch."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
