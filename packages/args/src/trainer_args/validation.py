"""What transformers' `TrainingArguments.__post_init__` does, in the same order, without torch.

`post_init(args)` runs: type checks (all fields at once), defaults and coercions, enum
conversion, derived values, `report_to`, the `_validate_args` rules, then mixed precision,
torch_compile, accelerator_config, hardware overrides and FSDP. Each phase collects its
problems and raises one `ValidationError` listing all of them.
"""

from __future__ import annotations

import os
import typing
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from trainer_args import integrations
from trainer_args.accelerator_config import AcceleratorConfig
from trainer_args.enums import (
    DebugOption,
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    SaveStrategy,
    SchedulerType,
)
from trainer_args.errors import FieldError, ValidationError
from trainer_args.fields import ACCEPTS, CHECK, arg_fields
from trainer_args.truth import JSON_DICT_STRINGS, parse_truth
from trainer_args.typecheck import describe, matches

__all__ = [
    "check_setter_steps",
    "collect_type_errors",
    "field_types",
    "post_init",
    "to_enum",
    "warn_deprecated",
]

_E = TypeVar("_E", bound=Enum)
_TYPE_CACHE: dict[type, dict[str, Any]] = {}
_WARNING = 30  # logging.WARNING
ENUM_FIELDS: dict[str, type[Enum]] = {
    "eval_strategy": IntervalStrategy,
    "logging_strategy": IntervalStrategy,
    "save_strategy": SaveStrategy,
    "hub_strategy": HubStrategy,
    "lr_scheduler_type": SchedulerType,
    "optim": OptimizerNames,
}


def post_init(args: Any) -> None:
    """Check and normalise new arguments in place, as transformers' `__post_init__` does.

    Raises:
        ValidationError: Listing every problem of the first phase that finds any.
    """
    errors = collect_type_errors(args)
    # Enum conversion does not depend on the defaults, so its errors are reported with the type errors.
    _raise_if(errors + _coerce_enums(args, skip={e.field for e in errors}))
    _defaults(args)
    _derive(args)
    _normalise_report_to(args)
    _raise_if(collect_rule_errors(args))
    _finish(args)


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationError(errors)


# ------------------------------------------------------------------ types
def field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations of an arguments class (cached per class).

    A subclass that re-annotates one of our fields (TRL's `bf16: bool | None`) is checked
    against its own annotation. When a subclass's annotations cannot be resolved (a name
    only imported under TYPE_CHECKING), ours are used: its own fields are not checked.
    """
    if cls not in _TYPE_CACHE:
        try:
            _TYPE_CACHE[cls] = typing.get_type_hints(cls)
        except NameError:
            owner = next(c for c in cls.__mro__ if "__attrs_attrs__" in c.__dict__)
            _TYPE_CACHE[cls] = field_types(owner)
    return _TYPE_CACHE[cls]


def _field_error(field: Any, tp: Any, value: Any) -> FieldError | None:
    check = field.metadata.get(CHECK)
    if check is not None:  # a field's own check replaces the type check (duck-typed values)
        message = check(value)
        return FieldError(field.name, value, message) if message else None
    expected = field.metadata.get(ACCEPTS, tp)
    if not matches(value, expected):
        return FieldError(field.name, value, f"expected {describe(expected)}")
    choices = field.metadata.get("choices")
    if choices is not None and value is not None and value not in choices:
        return FieldError(field.name, value, f"must be one of {choices}", allowed=choices)
    return None


def collect_type_errors(args: Any) -> list[FieldError]:
    """One FieldError per field whose value does not fit its annotation or choices."""
    types_ = field_types(type(args))
    errors = []
    for field in arg_fields(type(args)):
        error = _field_error(field, types_.get(field.name, Any), getattr(args, field.name))
        if error is not None:
            errors.append(error)
    return errors


# ----------------------------------------------------- defaults, coercions
def _convert_str_dict(d: dict[str, Any]) -> dict[str, Any]:
    """String leaves "true"/"false" -> bool, "12" -> int, "0.5" -> float (recursively in dicts)."""
    for key, value in d.items():
        if isinstance(value, dict):
            d[key] = _convert_str_dict(value)
        elif isinstance(value, str):
            truth = parse_truth(value, JSON_DICT_STRINGS)
            if truth is not None:
                d[key] = truth
            elif value.isdigit():
                d[key] = int(value)
            elif value.replace(".", "", 1).isdigit():
                d[key] = float(value)
    return d


def _parse_json_dicts(args: Any) -> None:
    import json

    errors = []
    for name in args._VALID_DICT_FIELDS:
        value = getattr(args, name)
        if isinstance(value, str) and value.startswith("{"):
            try:
                setattr(args, name, _convert_str_dict(json.loads(value)))
            except (ValueError, RecursionError) as exc:
                errors.append(FieldError(name, value, f"is not a valid JSON object: {exc}"))
    _raise_if(errors)


def warn_deprecated(old: str, new: str) -> None:
    """Warn (FutureWarning) that argument `old` is deprecated in favour of `new`."""
    warnings.warn(
        f"`{old}` is deprecated and will be removed in v6. Use `{new}` instead.",
        FutureWarning,
        stacklevel=4,
    )


def _resolve_aliases(args: Any) -> None:
    for old, new in (
        ("gradient_checkpointing", "activation_checkpointing"),
        ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
    ):
        if getattr(args, new) is None and getattr(args, old) is not None:
            warn_deprecated(old, new)
            setattr(args, new, getattr(args, old))
        setattr(args, old, getattr(args, new))
    if args.activation_checkpointing is None:
        args.activation_checkpointing = args.gradient_checkpointing = False


def _defaults(args: Any) -> None:
    if args.output_dir is None:
        args.output_dir = "trainer_output"
    _parse_json_dicts(args)
    _resolve_aliases(args)
    args.output_dir = os.path.expanduser(args.output_dir)
    if args.disable_tqdm is None:
        args.disable_tqdm = _verbosity() > _WARNING
    if isinstance(args.include_num_input_tokens_seen, bool):
        args.include_num_input_tokens_seen = "all" if args.include_num_input_tokens_seen else "no"


def _verbosity() -> int:
    from trainer_args.runtime import current_verbosity

    return current_verbosity()


def to_enum(field: str, value: Any, enum_cls: type[_E]) -> _E:
    """`enum_cls(value)`, or a ValidationError naming `field` and the closest valid value."""
    try:
        return enum_cls(value)
    except ValidationError as exc:
        raise ValidationError([_rename(e, field) for e in exc.errors]) from None
    except (ValueError, TypeError):
        allowed = [m.value for m in enum_cls]  # type: ignore[attr-defined]
        raise ValidationError.for_field(
            field, value, f"not a valid {enum_cls.__name__}", allowed
        ) from None


def _rename(error: FieldError, field: str) -> FieldError:
    return FieldError(field, error.value, error.message, error.allowed, error.suggestion)


def _coerce_enums(args: Any, skip: set[str]) -> list[FieldError]:
    """Convert the enum fields (and `debug`) in place; return the errors instead of raising."""
    errors: list[FieldError] = []
    converters: dict[str, Callable[[Any], Any]] = {
        name: _enum_converter(name) for name in ENUM_FIELDS
    }
    converters["debug"] = _debug_options
    for name, convert in converters.items():
        if name in skip:
            continue
        try:
            setattr(args, name, convert(getattr(args, name)))
        except ValidationError as exc:
            errors += exc.errors
    return errors


def _enum_converter(name: str) -> Callable[[Any], Any]:
    return lambda value: to_enum(name, value, ENUM_FIELDS[name])


def _debug_options(value: Any) -> list[DebugOption]:
    if value is None:
        return []
    parts = value.split() if isinstance(value, str) else value
    return [to_enum("debug", part, DebugOption) for part in parts]


# --------------------------------------------------------- derived values
def _derive(args: Any) -> None:
    if args.do_eval is False and args.eval_strategy != IntervalStrategy.NO:
        args.do_eval = True
    if args.eval_strategy == IntervalStrategy.STEPS and (
        args.eval_steps is None or args.eval_steps == 0
    ):
        if not args.logging_steps > 0:
            raise ValidationError.for_field(
                "eval_steps",
                args.eval_steps,
                f"evaluation strategy {args.eval_strategy} requires either non-zero --eval_steps or --logging_steps",
            )
        args.eval_steps = args.logging_steps
    plateau = args.lr_scheduler_type in (SchedulerType.REDUCE_ON_PLATEAU, SchedulerType.GREEDY)
    if (args.load_best_model_at_end or plateau) and args.metric_for_best_model is None:
        args.metric_for_best_model = "loss"
    if args.greater_is_better is None and args.metric_for_best_model is not None:
        args.greater_is_better = not args.metric_for_best_model.endswith("loss")


def _normalise_report_to(args: Any) -> None:
    value = args.report_to
    if value == "all" or value == ["all"]:
        args.report_to = integrations.available_reporting_integrations()
    elif value == "none" or value == ["none"]:
        args.report_to = []
    elif not isinstance(value, list):
        # As upstream, None becomes [None]; the Trainer rejects it.
        args.report_to = [value]
    if integrations.kubeflow_available() and "kubeflow" not in args.report_to:
        args.report_to = [*args.report_to, "kubeflow"]


# ------------------------------------------------------------ the rules
def collect_rule_errors(args: Any) -> list[FieldError]:
    """transformers' `_validate_args` rules (V1-V11), all of them checked, errors collected."""
    from trainer_args.rules import RULES

    errors: list[FieldError] = []
    for rule in RULES:
        error = rule(args)
        if error is not None:
            errors.append(error)
    return errors


def check_setter_steps(strategy: Enum, steps: float) -> None:
    """Refuse a `"steps"` strategy with `steps=0` in the `set_*` methods (ValidationError)."""
    if strategy.value == "steps" and steps == 0:
        raise ValidationError.for_field(
            "steps", steps, "Setting `strategy` as 'steps' requires a positive value for `steps`."
        )


# ------------------------------------------------------ after validation
def _accelerator_config(value: Any) -> AcceleratorConfig:
    if isinstance(value, AcceleratorConfig):
        return value
    if value is None:
        return AcceleratorConfig()
    if isinstance(value, dict):
        return AcceleratorConfig.from_mapping(value)
    if isinstance(value, (str, os.PathLike)):
        return AcceleratorConfig.from_json_file(value)
    # Another library's AcceleratorConfig (transformers'): the same options, as a dict.
    return AcceleratorConfig.from_mapping(value.to_dict())


def _finish(args: Any) -> None:
    args.mixed_precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if args.fp16:
        args.mixed_precision = "fp16"
    elif args.bf16:
        args.mixed_precision = "bf16"
    if args.torch_compile_mode is not None or args.torch_compile_backend is not None:
        args.torch_compile = True
    if args.torch_compile and args.torch_compile_backend is None:
        args.torch_compile_backend = "inductor"
    args.accelerator_config = _accelerator_config(args.accelerator_config)
    if args.use_cpu:
        args.dataloader_pin_memory = False
    from trainer_args.fsdp import process_fsdp_args

    args.fsdp_plugin_args = process_fsdp_args(args)
    args.deepspeed_plugin = None
