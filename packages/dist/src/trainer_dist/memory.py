"""CPU and GPU memory metrics per stage, with transformers' TrainerMemoryTracker key names.

`<stage>_mem_cpu_alloc_delta`, `<stage>_mem_cpu_peaked_delta`, `<stage>_mem_gpu_alloc_delta`,
`<stage>_mem_gpu_peaked_delta` (bytes) and, with the first report, the init stage plus
`before_init_mem_cpu` / `before_init_mem_gpu`. alloc = end - start; peaked = peak - end.
"""

from __future__ import annotations

import gc
import inspect
import os
import threading
from typing import Any

import torch

# Caller function names → stage, as transformers (our loop may also pass `stage=` explicitly).
STAGES = {
    "__init__": "init",
    "train": "train",
    "_inner_training_loop": "train",
    "_finalize_training": "train",
    "evaluate": "eval",
    "predict": "test",
}


class _CpuMemory:
    """Resident set size now and its peak since `reset_peak()`."""

    def __init__(self) -> None:
        try:
            import psutil
        except ImportError:  # psutil comes with accelerate, but stay usable without it
            self._process: Any = None
        else:
            self._process = psutil.Process()
        self._peak = 0
        self._watching = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def rss(self) -> int:
        if self._process is not None:
            return int(self._process.memory_info().rss)
        with open(f"/proc/{os.getpid()}/statm") as f:  # Linux without psutil
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self) -> None:
        # Sampling every millisecond catches peaks that live longer than that; transformers
        # spins without pausing, which costs a whole core for the length of a run.
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self.rss())

    def start_peak(self) -> None:
        self._peak = self.rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop_peak(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._peak = max(self._peak, self.rss())
        return self._peak


def _device_module() -> Any:
    """torch.cuda / xpu / npu / mlu / musa when such a device exists, else None."""
    for name in ("cuda", "xpu", "npu", "mlu", "musa"):
        module = getattr(torch, name, None)
        if module is not None and module.is_available():
            return module
    return None


class MemoryTracker:
    """Track memory per stage (init/train/eval/test) and add the deltas to metrics dicts.

    Usage, as transformers: `start()` at the beginning of `__init__`/`train`/`evaluate`/
    `predict`, `stop_and_update_metrics(metrics)` at its end; the stage comes from the
    calling function's name or from `stage=`. Nested stages (eval during train) are ignored.
    """

    def __init__(self, skip_memory_metrics: bool = False) -> None:
        self.skip_memory_metrics = skip_memory_metrics
        self.cur_stage: str | None = None
        self.cpu: dict[str, dict[str, int]] = {}
        self.gpu: dict[str, dict[str, int]] = {}
        self.init_reported = False
        if skip_memory_metrics:
            return
        self._cpu = _CpuMemory()
        self._device = _device_module()
        self._cpu_begin = 0
        self._gpu_begin = 0

    @staticmethod
    def derive_stage(depth: int = 2) -> str:
        """The stage of the function `depth` frames above this one."""
        frame = inspect.currentframe()
        for _ in range(depth):
            frame = frame.f_back if frame is not None else None
        caller = frame.f_code.co_name if frame is not None else "<unknown>"
        if caller not in STAGES:
            raise ValueError(
                f"was called from {caller}, but only expect to be called from one of "
                f"{list(STAGES)}; pass stage= explicitly"
            )
        return STAGES[caller]

    def start(self, stage: str | None = None) -> None:
        """Start tracking the caller's stage."""
        if self.skip_memory_metrics:
            return
        stage = stage or self.derive_stage()
        if self.cur_stage is not None and self.cur_stage != stage:
            return  # nested (eval inside train): the outer stage keeps measuring
        self.cur_stage = stage
        gc.collect()
        if self._device is not None:
            self._device.reset_peak_memory_stats()
            self._device.empty_cache()
            self._gpu_begin = int(self._device.memory_allocated())
        self._cpu_begin = self._cpu.rss()
        self._cpu.start_peak()

    def stop(self, stage: str) -> None:
        """Stop tracking `stage` and record its numbers."""
        if self.skip_memory_metrics or self.cur_stage is None or self.cur_stage != stage:
            return
        peak = self._cpu.stop_peak()
        gc.collect()
        if self._device is not None:
            self._device.empty_cache()
            now = int(self._device.memory_allocated())
            self.gpu[stage] = {
                "begin": self._gpu_begin,
                "end": now,
                "alloc": now - self._gpu_begin,
                "peaked": max(0, int(self._device.max_memory_allocated()) - now),
            }
        now = self._cpu.rss()
        self.cpu[stage] = {
            "begin": self._cpu_begin,
            "end": now,
            "alloc": now - self._cpu_begin,
            "peaked": max(0, peak - now),
        }
        self.cur_stage = None

    def update_metrics(self, stage: str, metrics: dict[str, Any]) -> None:
        """Add this stage's deltas (and, the first time, init's) to `metrics`."""
        if self.skip_memory_metrics:
            return
        if self.cur_stage is not None and self.cur_stage != stage:
            return
        stages = [stage]
        if not self.init_reported:
            stages.insert(0, "init")
            self.init_reported = True
        for name in stages:
            for kind in ("alloc", "peaked"):
                if kind in self.cpu.get(name, {}):
                    metrics[f"{name}_mem_cpu_{kind}_delta"] = self.cpu[name][kind]
                if kind in self.gpu.get(name, {}):
                    metrics[f"{name}_mem_gpu_{kind}_delta"] = self.gpu[name][kind]
        if stages[0] == "init" and "init" in self.cpu:
            metrics["before_init_mem_cpu"] = self.cpu["init"]["begin"]
            if "init" in self.gpu:
                metrics["before_init_mem_gpu"] = self.gpu["init"]["begin"]

    def stop_and_update_metrics(
        self, metrics: dict[str, Any] | None = None, stage: str | None = None
    ) -> None:
        """`stop()` the caller's stage, then `update_metrics()` when `metrics` is given."""
        if self.skip_memory_metrics:
            return
        stage = stage or self.derive_stage()
        self.stop(stage)
        if metrics is not None:
            self.update_metrics(stage, metrics)
