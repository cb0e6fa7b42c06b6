"""Optimizers: which one `TrainingArguments.optim` names, and building it as the Trainer does.

`registry` looks a name up (`builtin` holds torch's, `optional` those from other packages,
`low_rank` GaLore and APOLLO), `adafactor` is transformers' Adafactor, `context` what every
handler gets. To add an optimizer, write a handler in `builtin` or `optional` and register
its name there.
"""

from trainer_loop.optim.adafactor import Adafactor, get_adafactor_schedule
from trainer_loop.optim.context import OptimizerContext, OptimizerUnavailableError, optim_value
from trainer_loop.optim.optional import available_optimizers
from trainer_loop.optim.registry import (
    OPTIMIZER_HANDLERS,
    build_optimizer,
    create_optimizer,
    get_decay_parameter_names,
    get_optimizer_cls_and_kwargs,
    get_parameter_names,
    is_optimizer_factory,
    param_groups,
)

__all__ = [
    "OPTIMIZER_HANDLERS",
    "Adafactor",
    "OptimizerContext",
    "OptimizerUnavailableError",
    "available_optimizers",
    "build_optimizer",
    "create_optimizer",
    "get_adafactor_schedule",
    "get_decay_parameter_names",
    "get_optimizer_cls_and_kwargs",
    "get_parameter_names",
    "is_optimizer_factory",
    "optim_value",
    "param_groups",
]
