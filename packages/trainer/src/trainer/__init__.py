"""A transformers-compatible PyTorch training library: the documented API in one import.

```python
from trainer import Trainer, TrainingArguments
```

Every public name is re-exported lazily (PEP 562): `import trainer` stays fast and does
not import torch; the first access to `trainer.Trainer` imports the layer that defines it.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from trainer._version import __version__

# public name -> module that defines it (the owning layer's module, as agreed in the design).
_EXPORTS: dict[str, str] = {
    # configuration (trainer_args, never torch)
    "TrainingArguments": "trainer_args",
    "AcceleratorConfig": "trainer_args",
    "Seq2SeqTrainingArguments": "trainer_args",
    "ArgumentParser": "trainer_args",
    "ValidationError": "trainer_args",
    "IntervalStrategy": "trainer_args",
    "SaveStrategy": "trainer_args",
    "HubStrategy": "trainer_args",
    "SchedulerType": "trainer_args",
    "OptimizerNames": "trainer_args",
    "FSDPOption": "trainer_args",
    "ParallelMode": "trainer_args",
    "HPSearchBackend": "trainer_args",
    "DebugOption": "trainer_args",
    # devices, seeding (trainer_dist)
    "set_seed": "trainer_dist.seeding",
    "enable_full_determinism": "trainer_dist.seeding",
    # the loop (trainer_loop)
    "Trainer": "trainer_loop.trainer",
    "TrainerState": "trainer_loop.state",
    "TrainerControl": "trainer_loop.state",
    "ExportableState": "trainer_loop.state",
    "TrainerCallback": "trainer_loop.callbacks.base",
    "CallbackHandler": "trainer_loop.callbacks.handler",
    "DefaultFlowCallback": "trainer_loop.callbacks.flow",
    "ProgressCallback": "trainer_loop.callbacks.progress",
    "PrinterCallback": "trainer_loop.callbacks.progress",
    "EarlyStoppingCallback": "trainer_loop.callbacks.early_stopping",
    "EvalPrediction": "trainer_loop.outputs",
    "PredictionOutput": "trainer_loop.outputs",
    "EvalLoopOutput": "trainer_loop.outputs",
    "TrainOutput": "trainer_loop.outputs",
    "BestRun": "trainer_loop.outputs",
    "ModelOutput": "trainer_loop.outputs",
    "get_scheduler": "trainer_loop.schedulers",
    # generation-based evaluation (trainer_seq2seq)
    "Seq2SeqTrainer": "trainer_seq2seq.trainer",
}
# transformers' name for the parser, so `from transformers import HfArgumentParser` ports too.
_ALIASES: dict[str, str] = {"HfArgumentParser": "ArgumentParser"}

# distribution names of every layer, top to bottom, then the heavy runtime dependencies.
LAYERS: tuple[str, ...] = (
    "trainer",
    "trainer-seq2seq",
    "trainer-loop",
    "trainer-dist",
    "trainer-args",
)
RUNTIME_DEPENDENCIES: tuple[str, ...] = ("torch", "accelerate", "safetensors", "attrs", "cattrs")

# Literal, so tools see the public names; a test checks it matches _EXPORTS/_ALIASES.
__all__ = [
    "AcceleratorConfig",
    "ArgumentParser",
    "BestRun",
    "CallbackHandler",
    "DebugOption",
    "DefaultFlowCallback",
    "EarlyStoppingCallback",
    "EvalLoopOutput",
    "EvalPrediction",
    "ExportableState",
    "FSDPOption",
    "HPSearchBackend",
    "HfArgumentParser",
    "HubStrategy",
    "IntervalStrategy",
    "ModelOutput",
    "OptimizerNames",
    "ParallelMode",
    "PredictionOutput",
    "PrinterCallback",
    "ProgressCallback",
    "SaveStrategy",
    "SchedulerType",
    "Seq2SeqTrainer",
    "Seq2SeqTrainingArguments",
    "TrainOutput",
    "Trainer",
    "TrainerCallback",
    "TrainerControl",
    "TrainerState",
    "TrainingArguments",
    "ValidationError",
    "__version__",
    "enable_full_determinism",
    "get_scheduler",
    "set_seed",
    "versions",
]


def __getattr__(name: str) -> Any:
    """Import the defining layer on first access, then cache the attribute on this module."""
    target = _ALIASES.get(name, name)
    module_name = _EXPORTS.get(target)
    if module_name is None:
        raise AttributeError(f"module 'trainer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def versions() -> dict[str, str]:
    """Installed version of every layer and of torch/accelerate (for bug reports).

    Read from the installed distributions' metadata, so nothing heavy gets imported;
    a distribution that is not installed reads "not installed".
    """
    found: dict[str, str] = {}
    for name in (*LAYERS, *RUNTIME_DEPENDENCIES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["trainer"] = __version__  # the running code, even from a source checkout
    return found


if TYPE_CHECKING:  # static re-exports for type checkers and IDEs; never executed
    from trainer_args import (
        ArgumentParser,
        DebugOption,
        FSDPOption,
        HPSearchBackend,
        HubStrategy,
        IntervalStrategy,
        OptimizerNames,
        ParallelMode,
        SaveStrategy,
        SchedulerType,
        Seq2SeqTrainingArguments,
        TrainingArguments,
        ValidationError,
    )
    from trainer_args import ArgumentParser as HfArgumentParser
    from trainer_dist.seeding import enable_full_determinism, set_seed
    from trainer_loop.callbacks.base import TrainerCallback
    from trainer_loop.callbacks.early_stopping import EarlyStoppingCallback
    from trainer_loop.callbacks.flow import DefaultFlowCallback
    from trainer_loop.callbacks.handler import CallbackHandler
    from trainer_loop.callbacks.progress import PrinterCallback, ProgressCallback
    from trainer_loop.outputs import (
        BestRun,
        EvalLoopOutput,
        EvalPrediction,
        ModelOutput,
        PredictionOutput,
        TrainOutput,
    )
    from trainer_loop.schedulers import get_scheduler
    from trainer_loop.state import ExportableState, TrainerControl, TrainerState
    from trainer_seq2seq.trainer import Seq2SeqTrainer
