"""Training throughput between two logs: samples/s, tokens/s, achieved TFLOP/s and MFU.

The Trainer counts samples and tokens per step (plain ints, no device sync) and, when a
log is due, asks for the rates since the previous log and adds them to the logs. Keys are
prefixed `throughput_` so they never collide with transformers' end-of-run
`train_samples_per_second`/`train_tokens_per_second` (which average over the whole run):

- `throughput_samples_per_second`, `throughput_tokens_per_second` (when tokens are counted),
- `throughput_tflops`: model FLOPs per second / 1e12 (needs FLOPs per token, or per sample),
- `throughput_mfu`: achieved FLOP/s over the hardware peak (needs the peak, e.g. from
  `peak_flops_per_second(device)`), a fraction in [0, 1].
"""

from __future__ import annotations

import time
from typing import Any

__all__ = [
    "ThroughputMeter",
    "peak_flops_per_second",
    "throughput_metrics",
    "training_flops_per_token",
]

# Dense bf16/fp16 tensor-core peaks (FLOP/s) of common accelerators, for MFU.
_PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100", 989.4e12),
    ("GH200", 989.4e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362.05e12),
    ("L4", 121e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("V100", 125e12),
    ("T4", 65e12),
)


def training_flops_per_token(num_parameters: int) -> float:
    """The usual estimate for one training token of a dense model: 6 x parameters (fwd + bwd)."""
    return 6.0 * num_parameters


def peak_flops_per_second(device: Any = None) -> float | None:
    """The bf16 dense peak of a CUDA device (by name), or None when unknown or not a GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    dev = torch.device(device) if device is not None else torch.device("cuda")
    if dev.type != "cuda":
        return None
    name = torch.cuda.get_device_name(dev)
    for key, peak in _PEAK_FLOPS:
        if key in name:
            return peak
    return None


def throughput_metrics(
    elapsed_seconds: float,
    num_samples: float | None = None,
    num_tokens: float | None = None,
    flops_per_token: float | None = None,
    flops_per_sample: float | None = None,
    peak_flops: float | None = None,
) -> dict[str, float]:
    """Rates over one interval; keys whose inputs are unknown (None) are left out.

    FLOPs come from `flops_per_token * num_tokens`, else `flops_per_sample * num_samples`.
    `peak_flops` is the hardware peak of *all* devices doing the work (x world size).
    """
    if elapsed_seconds <= 0:
        return {}
    metrics: dict[str, float] = {}
    if num_samples is not None:
        metrics["throughput_samples_per_second"] = round(num_samples / elapsed_seconds, 3)
    if num_tokens is not None:
        metrics["throughput_tokens_per_second"] = round(num_tokens / elapsed_seconds, 3)
    flops = None
    if flops_per_token is not None and num_tokens is not None:
        flops = flops_per_token * num_tokens
    elif flops_per_sample is not None and num_samples is not None:
        flops = flops_per_sample * num_samples
    if flops is not None:
        achieved = flops / elapsed_seconds
        metrics["throughput_tflops"] = round(achieved / 1e12, 3)
        if peak_flops:
            metrics["throughput_mfu"] = round(achieved / peak_flops, 4)
    return metrics


class ThroughputMeter:
    """Accumulates samples/tokens between logs; `metrics()` returns the rates and restarts.

    `clock` is injectable (tests pass a fake); it defaults to `time.perf_counter`.
    """

    def __init__(
        self,
        flops_per_token: float | None = None,
        peak_flops: float | None = None,
        clock: Any = time.perf_counter,
    ) -> None:
        self.flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self.samples = 0
        self.tokens: int | None = None
        self._start = self._clock()

    def update(self, num_samples: int, num_tokens: int | None = None) -> None:
        self.samples += num_samples
        if num_tokens is not None:
            self.tokens = (self.tokens or 0) + num_tokens

    def metrics(self) -> dict[str, float]:
        result = throughput_metrics(
            self._clock() - self._start,
            num_samples=self.samples,
            num_tokens=self.tokens,
            flops_per_token=self.flops_per_token,
            peak_flops=self.peak_flops,
        )
        self.reset()
        return result
