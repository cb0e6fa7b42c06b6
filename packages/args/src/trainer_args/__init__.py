"""Training arguments for PyTorch training: attrs schemas, parser, validation and JSON Schema.

No torch required. `ArgumentParser`, `json_schema` and the (de)serialisation helpers are
imported on first use, so `import trainer_args` stays fast.
"""

from typing import TYPE_CHECKING, Any

from trainer_args._version import __version__
from trainer_args.accelerator_config import AcceleratorConfig
from trainer_args.enums import (
    LOG_LEVELS,
    DebugOption,
    ExplicitEnum,
    FSDPOption,
    HPSearchBackend,
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    ParallelMode,
    SaveStrategy,
    SchedulerType,
)
from trainer_args.errors import FieldError, ValidationError
from trainer_args.training_args import TrainingArguments

if TYPE_CHECKING:
    from trainer_args.parser import ArgumentParser, string_to_bool
    from trainer_args.schema import json_schema
    from trainer_args.seq2seq_args import Seq2SeqTrainingArguments

__all__ = [
    "LOG_LEVELS",
    "AcceleratorConfig",
    "ArgumentParser",
    "DebugOption",
    "ExplicitEnum",
    "FSDPOption",
    "FieldError",
    "HPSearchBackend",
    "HubStrategy",
    "IntervalStrategy",
    "OptimizerNames",
    "ParallelMode",
    "SaveStrategy",
    "SchedulerType",
    "Seq2SeqTrainingArguments",
    "TrainingArguments",
    "ValidationError",
    "__version__",
    "json_schema",
    "string_to_bool",
]

# Imported on first use: building a 119-field attrs class (and pathlib) costs import time.
_LAZY = {
    "Seq2SeqTrainingArguments": "trainer_args.seq2seq_args",
    "ArgumentParser": "trainer_args.parser",
    "string_to_bool": "trainer_args.parser",
    "json_schema": "trainer_args.schema",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainer_args' has no attribute {name!r}")
