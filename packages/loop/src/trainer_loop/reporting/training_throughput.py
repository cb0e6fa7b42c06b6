"""Throughput of each training-log interval, for the `on_log` payload (not for `log_history`).

The loop calls `TrainingThroughput.count(inputs)` once per micro-batch: it reads tensor
shapes only (known on the host, no device synchronisation) and adds a few integers. When
a training log is due, `log_metrics()` returns the `throughput_*` keys of
`trainer_loop.reporting.throughput` over the interval since the previous training log:

- samples: the batch dimension of each micro-batch x world size;
- tokens: the loop's own count (`state.num_input_tokens_seen`, exact across processes) when
  `include_num_input_tokens_seen` is on, else `input_ids.numel()` (or the first two dims of
  `inputs_embeds`) x world size; absent for inputs with neither;
- FLOPs: 6 x parameters per token, the parameters counted once at the start of training
  (the model's `num_parameters(exclude_embeddings=True)` as for `total_flos`, else the
  trainable parameters outside embedding layers);
- MFU: only when `peak_flops_per_second(device)` knows the device (x world size).

Time spent evaluating or saving a checkpoint is left out of the interval: it is not training.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from torch import nn

from trainer_loop.reporting import throughput

__all__ = ["TrainingThroughput", "count_flops_parameters"]


def count_flops_parameters(model: Any) -> int | None:
    """Parameters that cost FLOPs per token: the model's own count when it has one."""
    if hasattr(model, "num_parameters"):
        return int(model.num_parameters(exclude_embeddings=True))
    if not isinstance(model, nn.Module):
        return None
    # An embedding lookup is not a matrix product: its weights cost no FLOPs per token.
    embedding_ids = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()
    }
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad and id(p) not in embedding_ids
    )


def _shape_counts(inputs: Any) -> tuple[int | None, int | None]:
    """`(samples, tokens)` of one micro-batch from shapes only; None where unknown."""
    # `type(...) is dict` first: the Mapping ABC check costs more than the rest of a step's count.
    if type(inputs) is dict or isinstance(inputs, Mapping):
        shape: Any = getattr(inputs.get("input_ids"), "shape", None)
        if shape:  # a torch.Size (a tuple): empty for a scalar
            return shape[0], shape.numel()
        shape = getattr(inputs.get("inputs_embeds"), "shape", None)
        if shape and len(shape) > 1:
            return shape[0], shape[0] * shape[1]
        values: Any = inputs.values()
    else:
        values = inputs if isinstance(inputs, (list, tuple)) else (inputs,)
    for value in values:
        shape = getattr(value, "shape", None)
        if shape:
            return int(shape[0]), None
    return None, None


class TrainingThroughput:
    """Counts one training run's samples/tokens between logs; see the module notes."""

    def __init__(self, trainer: Any) -> None:
        args = trainer.args
        self._state = trainer.state  # this run's state (no reference back to the trainer)
        self._world_size = max(1, int(args.world_size))
        self._seen_tokens = args.include_num_input_tokens_seen not in ("no", False, None)
        self._last_seen = int(trainer.state.num_input_tokens_seen)
        self._fallback_batch = int(trainer._train_batch_size)
        params = count_flops_parameters(trainer.model)
        flops_per_token = throughput.training_flops_per_token(params) if params else None
        peak = throughput.peak_flops_per_second(args.device)
        self._excluded = 0.0  # seconds of evaluation/saving inside the current interval
        self.meter = throughput.ThroughputMeter(
            flops_per_token=flops_per_token,
            peak_flops=peak * self._world_size if peak else None,
            clock=self._training_clock,
        )
        self._samples = 0
        self._tokens: int | None = None

    def _training_clock(self) -> float:
        return time.perf_counter() - self._excluded

    def count(self, inputs: Any) -> None:
        """One micro-batch (host integers only)."""
        samples, tokens = _shape_counts(inputs)
        self._samples += samples if samples is not None else self._fallback_batch
        if tokens is not None:
            self._tokens = (self._tokens or 0) + tokens

    def exclude(self, seconds: float) -> None:
        """Leave `seconds` (an evaluation, a checkpoint save) out of the current interval."""
        self._excluded += seconds

    def log_metrics(self) -> dict[str, float]:
        """The `throughput_*` keys since the previous call (or the start of training)."""
        tokens = self._tokens * self._world_size if self._tokens is not None else None
        if self._seen_tokens:
            # The loop's count is exact across processes (gathered); it stays at 0 when the
            # model's main input is missing, and the shapes' count is kept then.
            seen = int(self._state.num_input_tokens_seen)
            if seen > self._last_seen:
                tokens = seen - self._last_seen
            self._last_seen = seen
        self.meter.update(self._samples * self._world_size, tokens)
        self._samples, self._tokens = 0, None
        return self.meter.metrics()
