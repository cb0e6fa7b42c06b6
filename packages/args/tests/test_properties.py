"""Derived properties, setters and dict/JSON helpers, compared with transformers where it helps."""

from __future__ import annotations

import copy
import json
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trainer_args import (
    IntervalStrategy,
    OptimizerNames,
    ParallelMode,
    SaveStrategy,
    TrainingArguments,
    ValidationError,
    device_layer,
)


class FakeState:
    """Stands in for accelerate's PartialState."""

    def __init__(self, world: int, rank: int, local: int) -> None:
        self.num_processes, self.process_index, self.local_process_index = world, rank, local
        self.entered: list[str] = []

    def local_main_process_first(self) -> Any:
        return self._record("local")

    def main_process_first(self) -> Any:
        return self._record("global")

    def _record(self, kind: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def cm() -> Iterator[None]:
            self.entered.append(kind)
            yield

        return cm()


@pytest.fixture
def fake_dist(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in device layer (trainer_dist's `setup_devices`) that counts its calls."""
    record: dict[str, Any] = {
        "calls": 0,
        "state": FakeState(2, 1, 1),
        "n_gpu": 0,
        "mode": ParallelMode.DISTRIBUTED,
    }

    def setup_devices(args: Any) -> Any:
        record["calls"] += 1
        return types.SimpleNamespace(
            device="cpu:1",
            n_gpu=record["n_gpu"],
            parallel_mode=record["mode"],
            distributed_state=record["state"],
        )

    monkeypatch.setattr(device_layer, "_registered", None)  # put back after the test
    device_layer.register_device_setup(setup_devices)
    return record


# ------------------------------------------------------------- batch sizes
@pytest.mark.reference
@pytest.mark.parametrize("n_gpu", [0, 1, 2, 4])
def test_batch_sizes_like_transformers(n_gpu: int, build_reference: Callable[..., Any]) -> None:
    theirs = build_reference(per_device_train_batch_size=3, per_device_eval_batch_size=5)
    theirs._n_gpu = n_gpu
    ours = TrainingArguments(per_device_train_batch_size=3, per_device_eval_batch_size=5)
    ours._n_gpu = n_gpu
    assert (ours.train_batch_size, ours.eval_batch_size) == (
        theirs.train_batch_size,
        theirs.eval_batch_size,
    )


@pytest.mark.reference
@pytest.mark.parametrize(
    ("warmup", "total"), [(0, 100), (0.1, 100), (7, 100), (0.05, 33), (1.0, 10), (2.9, 5)]
)
def test_warmup_steps_like_transformers(
    warmup: float, total: int, build_reference: Callable[..., Any]
) -> None:
    theirs = build_reference(warmup_steps=warmup).get_warmup_steps(total)
    assert TrainingArguments(warmup_steps=warmup).get_warmup_steps(total) == theirs


@pytest.mark.reference
def test_single_process_facts_like_transformers(build_reference: Callable[..., Any]) -> None:
    theirs = build_reference()
    ours = TrainingArguments()
    for name in ("world_size", "process_index", "local_process_index", "should_log", "should_save"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.get_process_log_level() == theirs.get_process_log_level() == 30
    assert (
        TrainingArguments(log_level="info").get_process_log_level()
        == build_reference(log_level="info").get_process_log_level()
    )
    assert ours.ddp_timeout_delta == theirs.ddp_timeout_delta
    assert ours.place_model_on_device is None


# ---------------------------------------------------------- env variables
@pytest.mark.parametrize(
    ("env", "log_each", "save_each", "expected"),
    [
        ({}, True, False, (1, 0, 0, True, True)),
        ({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}, True, False, (4, 3, 1, False, False)),
        ({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"}, True, False, (4, 2, 0, True, False)),
        ({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"}, False, True, (4, 2, 0, False, True)),
        ({"WORLD_SIZE": "4", "RANK": "0", "LOCAL_RANK": "0"}, False, False, (4, 0, 0, True, True)),
    ],
)
def test_ranks_from_launcher_env(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    log_each: bool,
    save_each: bool,
    expected: tuple[Any, ...],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = TrainingArguments(log_on_each_node=log_each, save_on_each_node=save_each)
    got = (
        args.world_size,
        args.process_index,
        args.local_process_index,
        args.should_log,
        args.should_save,
    )
    assert got == expected


def test_replica_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_RANK", "1")
    args = TrainingArguments(log_level="debug", log_level_replica="error")
    assert args.get_process_log_level() == 40
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert args.get_process_log_level() == 10


def test_main_process_first_is_a_no_op_on_one_process() -> None:
    ran = []
    with TrainingArguments().main_process_first(desc="map"):
        ran.append(1)
    assert ran == [1]


# ------------------------------------------------------ torch side, cached
def test_device_properties_use_trainer_dist_once(fake_dist: dict[str, Any]) -> None:
    args = TrainingArguments()
    plain = TrainingArguments()
    assert args.device == "cpu:1" and args.n_gpu == 0
    assert args.parallel_mode is ParallelMode.DISTRIBUTED
    assert args.distributed_state is fake_dist["state"]
    assert fake_dist["calls"] == 1
    assert (args.world_size, args.process_index, args.local_process_index) == (2, 1, 1)
    assert args.should_log is False
    # The cache is private: not in to_dict, equality or repr.
    assert args == plain and args.to_dict() == plain.to_dict() and "_device_setup" not in repr(args)
    with args.main_process_first(local=False):
        pass
    assert fake_dist["state"].entered == ["global"]


def test_parallel_mode_follows_n_gpu(fake_dist: dict[str, Any]) -> None:
    fake_dist.update(mode=ParallelMode.NOT_PARALLEL, n_gpu=2)
    args = TrainingArguments()
    assert args.parallel_mode is ParallelMode.NOT_DISTRIBUTED and args.train_batch_size == 16
    args._n_gpu = 1  # the Trainer overrides it for model-parallel models, as with transformers
    assert args.parallel_mode is ParallelMode.NOT_PARALLEL and args.train_batch_size == 8


def test_missing_trainer_dist_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_layer, "_registered", None)  # as if trainer_dist was never imported
    monkeypatch.setitem(sys.modules, "trainer_dist.devices", None)
    with pytest.raises(ImportError, match="pip install trainer-dist"):
        _ = TrainingArguments().device


# ---------------------------------------------------------------- setters
SETTER_CALLS: list[tuple[str, dict[str, Any]]] = [
    (
        "set_training",
        {
            "learning_rate": 1e-4,
            "batch_size": 32,
            "num_epochs": 2,
            "activation_checkpointing": True,
        },
    ),
    ("set_evaluate", {"strategy": "steps", "steps": 100, "delay": 2.0, "batch_size": 16}),
    ("set_testing", {"batch_size": 32, "loss_only": True}),
    ("set_save", {"strategy": "epoch", "total_limit": 3}),
    (
        "set_logging",
        {"strategy": "steps", "steps": 10, "report_to": "tensorboard", "first_step": True},
    ),
    ("set_push_to_hub", {"model_id": "me/model", "strategy": "checkpoint", "token": "t"}),
    ("set_optimizer", {"name": "sgd", "learning_rate": 0.1, "beta1": 0.8}),
    ("set_lr_scheduler", {"name": "cosine", "warmup_steps": 0.05, "max_steps": 50}),
    (
        "set_dataloader",
        {"train_batch_size": 16, "eval_batch_size": 64, "num_workers": 2, "sampler_seed": 3},
    ),
]


@pytest.mark.reference
@pytest.mark.parametrize(("name", "kwargs"), SETTER_CALLS, ids=[c[0] for c in SETTER_CALLS])
def test_setters_like_transformers(
    name: str,
    kwargs: dict[str, Any],
    build_reference: Callable[..., Any],
    comparable: Callable[..., Any],
) -> None:
    theirs = getattr(build_reference(), name)(**copy.deepcopy(kwargs))
    ours = TrainingArguments()
    assert getattr(ours, name)(**copy.deepcopy(kwargs)) is ours
    assert comparable(ours.to_dict()) == comparable(theirs.to_dict())


@pytest.mark.reference
def test_set_evaluate_keeps_eval_delay_a_number(build_reference: Callable[..., Any]) -> None:
    # Upstream sets eval_delay=None here, and DefaultFlowCallback then fails with `None <= int`.
    assert build_reference().set_evaluate(strategy="steps", steps=2).eval_delay is None
    args = TrainingArguments().set_evaluate(strategy="steps", steps=2)
    assert args.eval_delay == 0 and args.do_eval is True and args.eval_steps == 2
    assert args.eval_strategy is IntervalStrategy.STEPS


def test_setter_defaults_and_errors() -> None:
    args = TrainingArguments().set_logging()
    assert (
        args.logging_nan_inf_filter,
        args.log_on_each_node,
        args.log_level_replica,
        args.report_to,
    ) == (
        False,
        False,
        "passive",
        "none",
    )
    assert TrainingArguments().set_optimizer().optim is OptimizerNames.ADAMW_TORCH
    assert TrainingArguments().set_save(strategy="best").save_strategy is SaveStrategy.BEST
    assert TrainingArguments().set_dataloader(sampler_seed=3).data_seed == 3
    for setter in ("set_save", "set_evaluate", "set_logging"):
        with pytest.raises(ValidationError, match="requires a positive value for `steps`"):
            getattr(TrainingArguments(), setter)(strategy="steps", steps=0)
    with pytest.raises(ValidationError, match="did you mean 'steps'"):
        TrainingArguments().set_save(strategy="step")
    with pytest.warns(FutureWarning):
        assert (
            TrainingArguments().set_training(gradient_checkpointing=True).activation_checkpointing
            is True
        )


# ------------------------------------------------------------ dicts, repr
@pytest.mark.reference
def test_dict_helpers_like_transformers(
    build_reference: Callable[..., Any], comparable: Callable[..., Any]
) -> None:
    kwargs = {
        "hub_token": "secret",
        "eval_strategy": "steps",
        "debug": "underflow_overflow",
        "label_names": ["y"],
    }
    theirs = build_reference(**kwargs)
    ours = TrainingArguments(**kwargs)
    ours._n_gpu = theirs.n_gpu
    assert ours.to_dict()["hub_token"] == "<HUB_TOKEN>"
    assert comparable(json.loads(ours.to_json_string())) == comparable(
        json.loads(theirs.to_json_string())
    )
    assert ours.to_json_string() == json.dumps(ours.to_dict(), indent=2)
    sanitized, reference = ours.to_sanitized_dict(), theirs.to_sanitized_dict()
    sanitized.pop("accelerator_config"), reference.pop("accelerator_config")
    assert sanitized == reference
    assert str(ours) == str(theirs) and repr(ours) == str(ours)


def test_to_dict_is_a_copy() -> None:
    args = TrainingArguments(lr_scheduler_kwargs={"a": {"b": 1}})
    args.to_dict()["lr_scheduler_kwargs"]["a"]["b"] = 2
    assert args.lr_scheduler_kwargs == {"a": {"b": 1}}


def test_fields_stay_assignable() -> None:
    args = TrainingArguments(per_device_train_batch_size=8)
    args.per_device_train_batch_size //= 2  # as auto_find_batch_size does
    args.custom_attribute = 1  # type: ignore[attr-defined]
    args._n_gpu = 0
    assert args.train_batch_size == 4 and args.custom_attribute == 1  # type: ignore[attr-defined]


def test_copy_evolve_and_pickle() -> None:
    import pickle

    import attrs

    args = TrainingArguments(eval_strategy="epoch", fsdp="full_shard")
    assert copy.deepcopy(args) == args
    assert pickle.loads(pickle.dumps(args)) == args
    changed = attrs.evolve(args, seed=7)  # attrs' dataclasses.replace; runs validation again
    assert (
        changed.seed == 7
        and changed.fsdp is True
        and changed.eval_strategy is IntervalStrategy.EPOCH
    )
