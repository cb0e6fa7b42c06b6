"""Construction-time rules: each one triggered, side by side with transformers where it is installed."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainer_args import (
    DebugOption,
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    SaveStrategy,
    SchedulerType,
    TrainingArguments,
    ValidationError,
)

# Inputs that transformers rejects at construction; we must reject them too.
INVALID: dict[str, dict[str, Any]] = {
    "bad_eval_strategy": {"eval_strategy": "foo"},
    "bad_save_strategy": {"save_strategy": "sometimes"},
    "bad_logging_strategy": {"logging_strategy": "always"},
    "bad_hub_strategy": {"hub_strategy": "never"},
    "bad_scheduler": {"lr_scheduler_type": "cosine_annealing"},
    "removed_optim": {"optim": "adamw_hf"},
    "bad_debug": {"debug": "underflow"},
    "eval_steps_without_logging_steps": {"eval_strategy": "steps", "logging_steps": 0},
    "logging_steps_zero": {"logging_steps": 0},
    "logging_steps_fraction": {"logging_steps": 2.5},
    "save_steps_fraction": {"save_steps": 2.5},
    "eval_steps_fraction": {"eval_strategy": "steps", "eval_steps": 2.5},
    "best_model_strategy_mismatch": {
        "load_best_model_at_end": True,
        "eval_strategy": "epoch",
        "save_strategy": "steps",
    },
    "best_model_no_eval": {"load_best_model_at_end": True},
    "best_model_not_multiple": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "eval_steps": 3,
        "save_steps": 5,
    },
    "best_model_ratio_mix": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "eval_steps": 0.1,
        "save_steps": 5,
    },
    "best_model_ratio_not_multiple": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "eval_steps": 0.2,
        "save_steps": 0.3,
    },
    "fp16_and_bf16": {"fp16": True, "bf16": True, "use_cpu": True},
    "full_eval_both": {"fp16_full_eval": True, "bf16_full_eval": True, "use_cpu": True},
    "plateau_without_eval": {"lr_scheduler_type": "reduce_lr_on_plateau"},
    "greedy_without_eval": {"lr_scheduler_type": "greedy"},
    "negative_warmup": {"warmup_steps": -1},
    "prefetch_without_workers": {"dataloader_prefetch_factor": 2},
    "empty_cache_zero": {"torch_empty_cache_steps": 0},
    "empty_cache_float": {"torch_empty_cache_steps": 1.5},
    "bad_json_dict": {"lr_scheduler_kwargs": "{not json"},
    "accelerator_unknown_key": {"accelerator_config": {"foo": 1}},
    "accelerator_class": {"accelerator_config": "AcceleratorConfigClass"},
    "fsdp_hybrid_on_v2": {"fsdp": "hybrid_shard"},
    "fsdp_unknown_option": {"fsdp": "full_shard sideways"},
    "fsdp_bad_wrap_policy": {"fsdp": True, "fsdp_config": {"auto_wrap_policy": "EVERYTHING"}},
    "fsdp_missing_file": {"fsdp": True, "fsdp_config": "/nonexistent/fsdp.json"},
}

# Valid inputs: ours and transformers must normalise them to the same to_dict().
VALID: dict[str, dict[str, Any]] = {
    "defaults": {},
    "output_dir_tilde": {"output_dir": "~/runs/x"},
    "eval_steps_from_logging": {"eval_strategy": "steps", "logging_steps": 7},
    "integral_floats": {
        "logging_steps": 5.0,
        "save_steps": 10.0,
        "eval_strategy": "steps",
        "eval_steps": 5.0,
    },
    "ratios_stay_floats": {
        "logging_steps": 0.1,
        "save_steps": 0.2,
        "eval_strategy": "steps",
        "eval_steps": 0.1,
    },
    "best_model_multiple": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "eval_steps": 5,
        "save_steps": 10,
    },
    "best_model_ratios": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "eval_steps": 0.1,
        "save_steps": 0.2,
    },
    "best_model_save_best": {
        "load_best_model_at_end": True,
        "eval_strategy": "steps",
        "save_strategy": "best",
    },
    "best_model_epochs": {
        "load_best_model_at_end": True,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
    },
    "metric_accuracy": {"metric_for_best_model": "accuracy"},
    "metric_myloss": {"metric_for_best_model": "myloss"},
    "metric_explicit_direction": {"metric_for_best_model": "eval_loss", "greater_is_better": True},
    "plateau_with_eval": {"lr_scheduler_type": "reduce_lr_on_plateau", "eval_strategy": "epoch"},
    "greedy_with_eval": {"lr_scheduler_type": "greedy", "eval_strategy": "epoch"},
    "report_to_str": {"report_to": "tensorboard"},
    "report_to_none_list": {"report_to": ["none"]},
    "report_to_all": {"report_to": "all"},
    "report_to_list": {"report_to": ["tensorboard", "wandb"]},
    "report_to_None": {"report_to": None},
    "debug_str": {"debug": "underflow_overflow tpu_metrics_debug"},
    "tokens_seen_true": {"include_num_input_tokens_seen": True},
    "tokens_seen_false": {"include_num_input_tokens_seen": False},
    "tokens_seen_non_padding": {"include_num_input_tokens_seen": "non_padding"},
    "json_dict_strings": {
        "lr_scheduler_kwargs": '{"num_cycles": "2", "x": "true", "y": "0.5", "n": {"z": "FALSE"}}'
    },
    "dict_fields": {
        "lr_scheduler_kwargs": {"a": 1},
        "activation_checkpointing_kwargs": {"use_reentrant": False},
    },
    "gradient_checkpointing_alias": {
        "gradient_checkpointing": True,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
    },
    "activation_checkpointing": {"activation_checkpointing": True},
    "compile_mode": {"torch_compile_mode": "max-autotune"},
    "compile_backend": {"torch_compile_backend": "eager"},
    "compile_plain": {"torch_compile": True},
    "use_cpu": {"use_cpu": True},
    "fp16_on_cpu": {"fp16": True},
    "bf16_with_use_cpu": {"bf16": True, "use_cpu": True},
    "tf32_false": {"tf32": False},
    "accelerator_dict": {"accelerator_config": {"split_batches": True, "even_batches": False}},
    "accelerator_json_string": {"accelerator_config": '{"non_blocking": "true"}'},
    "fsdp_legacy_string": {"fsdp": "full_shard offload auto_wrap"},
    "fsdp_legacy_list": {"fsdp": ["shard_grad_op"]},
    "fsdp_config_prefix": {
        "fsdp": True,
        "fsdp_config": {"fsdp_transformer_layer_cls_to_wrap": "Block", "fsdp_min_num_params": 0},
    },
    "fsdp_size_wrap": {
        "fsdp": True,
        "fsdp_config": {"auto_wrap_policy": "SIZE_BASED_WRAP", "min_num_params": 100},
    },
    "fsdp_v1": {"fsdp": "hybrid_shard", "fsdp_config": {"version": 1, "limit_all_gathers": "true"}},
    "fsdp_xla": {"fsdp": True, "fsdp_config": {"xla": True}},
    "enum_members": {"eval_strategy": IntervalStrategy.EPOCH, "optim": OptimizerNames.SGD},
    "everything_else": {
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 2,
        "learning_rate": 1e-3,
        "warmup_steps": 0.1,
        "weight_decay": 0.01,
        "max_steps": 100,
        "seed": 3,
        "data_seed": 4,
        "label_names": ["labels"],
        "include_for_metrics": ["inputs", "loss"],
        "hub_token": "secret",
        "save_total_limit": 2,
        "log_level": "info",
        "eval_delay": 1.5,
        "dataloader_num_workers": 2,
        "dataloader_prefetch_factor": 4,
        "trackio_static_space_id": False,
        "train_sampling_strategy": "group_by_length",
        "optim_target_modules": ["attn", "mlp"],
    },
}


def _ours(**kwargs: Any) -> TrainingArguments:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TrainingArguments(**kwargs)


@pytest.fixture
def reference_inputs(hf: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Inputs adapted for transformers (its AcceleratorConfig class stands in for our placeholder)."""

    def adapt(kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.get("accelerator_config") == "AcceleratorConfigClass":
            from transformers.trainer_pt_utils import AcceleratorConfig

            return {**kwargs, "accelerator_config": AcceleratorConfig}
        return kwargs

    return adapt


@pytest.mark.parametrize("kwargs", INVALID.values(), ids=INVALID.keys())
def test_invalid_raises_validation_error(kwargs: dict[str, Any]) -> None:
    if kwargs.get("accelerator_config") == "AcceleratorConfigClass":
        kwargs = {**kwargs, "accelerator_config": TrainingArguments}
    with pytest.raises(ValidationError):
        _ours(**kwargs)


@pytest.mark.reference
@pytest.mark.parametrize("kwargs", INVALID.values(), ids=INVALID.keys())
def test_invalid_raises_in_transformers_too(
    kwargs: dict[str, Any],
    build_reference: Callable[..., Any],
    reference_inputs: Callable[..., Any],
) -> None:
    with pytest.raises((ValueError, TypeError, NotImplementedError, OSError)):
        build_reference(**reference_inputs(kwargs))


@pytest.mark.reference
@pytest.mark.parametrize("kwargs", VALID.values(), ids=VALID.keys())
def test_valid_normalises_like_transformers(
    kwargs: dict[str, Any], build_reference: Callable[..., Any], comparable: Callable[..., Any]
) -> None:
    import copy

    theirs = build_reference(**copy.deepcopy(kwargs))
    ours = _ours(**copy.deepcopy(kwargs))
    assert comparable(ours.to_dict()) == comparable(theirs.to_dict())
    assert ours.mixed_precision == theirs.mixed_precision
    assert ours.fsdp_plugin_args == theirs.fsdp_plugin_args


def test_deepspeed_config_is_kept_for_trainer_dist() -> None:
    # transformers builds its DeepSpeed config here (needs deepspeed installed); we keep the value as given.
    args = TrainingArguments(deepspeed='{"zero_optimization": {"stage": "2"}}')
    assert args.deepspeed == {"zero_optimization": {"stage": 2}} and args.deepspeed_plugin is None


def test_bf16_hardware_check_is_left_to_trainer_dist() -> None:
    # transformers raises here on a machine without a bf16 GPU; that needs torch, so trainer_dist checks it.
    assert _ours(bf16=True).mixed_precision == "bf16"


# ------------------------------------------------------- individual coercions
def test_defaults_after_construction() -> None:
    args = TrainingArguments()
    assert args.output_dir == "trainer_output"
    assert args.report_to == [] and args.debug == []
    assert args.activation_checkpointing is False and args.gradient_checkpointing is False
    assert args.disable_tqdm is False
    assert args.optim is OptimizerNames.ADAMW_TORCH_FUSED
    assert args.eval_strategy == "no" and args.eval_strategy is IntervalStrategy.NO


def test_enums_are_converted() -> None:
    args = TrainingArguments(
        eval_strategy="epoch", save_strategy="best", hub_strategy="end", lr_scheduler_type="cosine"
    )
    assert args.eval_strategy is IntervalStrategy.EPOCH
    assert args.logging_strategy is IntervalStrategy.STEPS
    assert args.save_strategy is SaveStrategy.BEST
    assert args.hub_strategy is HubStrategy.END
    assert args.lr_scheduler_type is SchedulerType.COSINE
    assert args.do_eval is True


def test_debug_string_and_list() -> None:
    assert TrainingArguments(debug="underflow_overflow").debug == [DebugOption.UNDERFLOW_OVERFLOW]
    assert TrainingArguments(debug=["tpu_metrics_debug"]).debug == [DebugOption.TPU_METRICS_DEBUG]
    assert TrainingArguments(debug=None).debug == []  # type: ignore[arg-type]


def test_integral_step_floats_become_ints() -> None:
    args = TrainingArguments(logging_steps=5.0, save_steps=10.0)
    assert args.logging_steps == 5 and type(args.logging_steps) is int
    assert args.save_steps == 10 and type(args.save_steps) is int


def test_eval_steps_default_to_logging_steps() -> None:
    assert TrainingArguments(eval_strategy="steps", logging_steps=7).eval_steps == 7


def test_best_model_defaults() -> None:
    args = TrainingArguments(
        load_best_model_at_end=True, eval_strategy="epoch", save_strategy="epoch"
    )
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False
    assert TrainingArguments(metric_for_best_model="accuracy").greater_is_better is True


def test_gradient_checkpointing_warns_and_mirrors() -> None:
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):
        args = TrainingArguments(gradient_checkpointing=True)
    assert args.activation_checkpointing is True and args.gradient_checkpointing is True


def test_json_dict_string_is_parsed_and_coerced() -> None:
    args = TrainingArguments(lr_scheduler_kwargs='{"num_cycles": "2", "x": "true", "y": "0.5"}')
    assert args.lr_scheduler_kwargs == {"num_cycles": 2, "x": True, "y": 0.5}


def test_output_dir_is_expanded() -> None:
    assert TrainingArguments(output_dir="~/x").output_dir == os.path.expanduser("~/x")
    assert TrainingArguments(output_dir=Path("rel")).output_dir == "rel"  # type: ignore[arg-type]


def test_report_to_kubeflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFLOW_TRAINER_SERVER_URL", "http://x")
    assert TrainingArguments(report_to="tensorboard").report_to == ["tensorboard", "kubeflow"]


def test_mixed_precision_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert TrainingArguments().mixed_precision == "bf16"
    assert TrainingArguments(fp16=True).mixed_precision == "fp16"


def test_compile_and_cpu_overrides() -> None:
    args = TrainingArguments(torch_compile_mode="reduce-overhead", use_cpu=True)
    assert args.torch_compile is True and args.torch_compile_backend == "inductor"
    assert args.dataloader_pin_memory is False


def test_fsdp_legacy_string_folds_into_config() -> None:
    args = TrainingArguments(fsdp="full_shard offload auto_wrap")
    assert args.fsdp is True
    assert (
        args.fsdp_config["cpu_offload"] is True
        and args.fsdp_config["reshard_after_forward"] is True
    )


def test_fsdp_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "fsdp.json"
    path.write_text(json.dumps({"fsdp_transformer_layer_cls_to_wrap": "Block"}))
    args = TrainingArguments(fsdp=True, fsdp_config=str(path))
    assert args.fsdp_config["transformer_layer_cls_to_wrap"] == ["Block"]
    assert args.fsdp_plugin_args is not None
    assert args.fsdp_plugin_args["transformer_cls_names_to_wrap"] == "Block"


def test_accelerator_config_file(tmp_path: Path) -> None:
    path = tmp_path / "acc.json"
    path.write_text(json.dumps({"split_batches": True}))
    assert TrainingArguments(accelerator_config=str(path)).accelerator_config.split_batches is True
    path.write_text(json.dumps({"split_batchez": True}))
    with pytest.raises(ValidationError, match="split_batches"):
        TrainingArguments(accelerator_config=str(path))


# --------------------------------------------------------------- the errors
def test_error_names_field_value_allowed_and_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingArguments(eval_strategy="stesp")
    message = str(info.value)
    assert "eval_strategy" in message and "'stesp'" in message
    assert "['no', 'steps', 'epoch']" in message and "did you mean 'steps'" in message
    assert isinstance(info.value, ValueError)
    assert info.value.errors[0].suggestion == "steps"


def test_transformers_wording_is_kept() -> None:
    with pytest.raises(
        ValueError, match="foo is not a valid IntervalStrategy, please select one of"
    ):
        TrainingArguments(eval_strategy="foo")
    with pytest.raises(ValueError, match="--logging_steps must be an integer if bigger than 1"):
        TrainingArguments(logging_steps=2.5)
    with pytest.raises(ValueError, match="At most one of fp16 and bf16 can be True, but not both"):
        TrainingArguments(fp16=True, bf16=True)
    with pytest.raises(ValueError, match="round multiple"):
        TrainingArguments(
            load_best_model_at_end=True, eval_strategy="steps", eval_steps=3, save_steps=5
        )


def test_errors_are_collected() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingArguments(learning_rate="fast", optim="adam", seed="x")  # type: ignore[arg-type]
    assert {e.field for e in info.value.errors} == {"learning_rate", "optim", "seed"}
    with pytest.raises(ValidationError) as info:
        TrainingArguments(warmup_steps=-1, dataloader_prefetch_factor=2, fp16=True, bf16=True)
    assert len(info.value.errors) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"per_device_train_batch_size": "8"}, "per_device_train_batch_size"),
        ({"per_device_train_batch_size": True}, "per_device_train_batch_size"),
        ({"do_train": "yes"}, "do_train"),
        ({"label_names": "labels"}, "label_names"),
        ({"log_level": "verbose"}, "log_level"),
        ({"ddp_backend": "nccl2"}, "ddp_backend"),
        ({"dataloader_multiprocessing_context": "thread"}, "dataloader_multiprocessing_context"),
        ({"train_sampling_strategy": "shuffled"}, "train_sampling_strategy"),
        ({"include_num_input_tokens_seen": "some"}, "include_num_input_tokens_seen"),
        ({"liger_kernel_config": {"rope": "yes"}}, "liger_kernel_config"),
        ({"fsdp": 3}, "fsdp"),
    ],
)
def test_wrong_types_and_choices_are_rejected(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        TrainingArguments(**kwargs)
    assert info.value.errors[0].field == field


def test_enum_classes_raise_validation_error() -> None:
    with pytest.raises(ValidationError, match="did you mean 'cosine'"):
        SchedulerType("cosin")
    assert OptimizerNames("sgd") is OptimizerNames.SGD
