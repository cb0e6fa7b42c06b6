"""to_dict/from_dict round trips, JSON and YAML files, unknown keys, gentle structuring."""

from __future__ import annotations

import builtins
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from trainer_args import (
    AcceleratorConfig,
    Seq2SeqTrainingArguments,
    TrainingArguments,
    ValidationError,
)
from trainer_args.serialization import coerce, unstructure

CONFIGS: list[dict[str, Any]] = [
    {},
    {"eval_strategy": "steps", "eval_steps": 50, "load_best_model_at_end": True, "save_steps": 100},
    {
        "lr_scheduler_type": "cosine",
        "lr_scheduler_kwargs": {"num_cycles": 0.5},
        "warmup_steps": 0.1,
    },
    {"report_to": ["tensorboard"], "debug": "underflow_overflow", "label_names": ["labels"]},
    {"fsdp": "full_shard offload", "fsdp_config": {"fsdp_min_num_params": 10}},
    {"accelerator_config": {"split_batches": True}, "use_cpu": True, "bf16": True},
    {"torch_compile_mode": "default", "optim": "adafactor", "trackio_static_space_id": False},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_dict_round_trip(kwargs: dict[str, Any]) -> None:
    args = TrainingArguments(**kwargs)
    again = TrainingArguments.from_dict(args.to_dict())
    assert again == args
    assert again.to_dict() == args.to_dict()
    assert list(again.to_dict()) == list(args.to_dict())


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_json_and_yaml_file_round_trip(kwargs: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    args = TrainingArguments(**kwargs)
    args.to_json_file(tmp_path / "a.json")
    args.to_yaml_file(tmp_path / "a.yaml")
    assert TrainingArguments.from_json_file(tmp_path / "a.json") == args
    assert TrainingArguments.from_yaml_file(tmp_path / "a.yaml") == args


def test_seq2seq_round_trip_with_path() -> None:
    args = Seq2SeqTrainingArguments(
        predict_with_generate=True, generation_config=Path("gen"), generation_num_beams=4
    )
    assert Seq2SeqTrainingArguments.from_dict(args.to_dict()) == args
    assert unstructure(args)["generation_config"] == "gen"


def test_seq2seq_generation_config_object_becomes_a_dict() -> None:
    class FakeGenerationConfig:
        def to_dict(self) -> dict[str, Any]:
            return {"max_length": 7}

    args = Seq2SeqTrainingArguments(generation_config=FakeGenerationConfig())
    assert args.to_dict()["generation_config"] == {"max_length": 7}


def test_unknown_keys_raise_with_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingArguments.from_dict({"learning_rat": 1e-3, "zzz": 1})
    fields = {e.field: e.suggestion for e in info.value.errors}
    assert fields == {"learning_rat": "learning_rate", "zzz": None}
    assert "did you mean 'learning_rate'" in str(info.value)
    assert TrainingArguments.from_dict({"zzz": 1, "seed": 3}, allow_unknown=True).seed == 3


def test_from_dict_structures_gently() -> None:
    args = TrainingArguments.from_dict(
        {"learning_rate": "5e-5", "per_device_train_batch_size": 16.0, "fp16": "true"}
    )
    assert (
        args.learning_rate == 5e-5 and args.per_device_train_batch_size == 16 and args.fp16 is True
    )
    with pytest.raises(ValidationError, match="per_device_train_batch_size"):
        TrainingArguments.from_dict({"per_device_train_batch_size": 2.5})
    with pytest.raises(ValidationError, match="mapping"):
        TrainingArguments.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        ("3", int, 3),
        ("3.5", int, "3.5"),
        (3.0, int, 3),
        ("1e-3", float, 1e-3),
        ("no", bool, False),
        ("x", float, "x"),
        ("7", int | None, 7),
    ],
)
def test_coerce(value: Any, tp: Any, expected: Any) -> None:
    result = coerce(value, tp)
    assert result == expected and type(result) is type(expected)


def test_yaml_reads_yaml_1_1_floats(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    path = tmp_path / "args.yaml"
    path.write_text("learning_rate: 5e-5\nnum_train_epochs: 1\nreport_to: none\n")
    args = TrainingArguments.from_yaml_file(path)
    assert args.learning_rate == 5e-5 and args.num_train_epochs == 1 and args.report_to == []


def test_bad_files_raise_validation_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "list.json").write_text("[1, 2]")
    for name in ("bad.json", "list.json", "missing.json"):
        with pytest.raises(ValidationError):
            TrainingArguments.from_json_file(tmp_path / name)


def test_missing_pyyaml_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ImportError, match=r"pip install 'trainer-args\[yaml\]'"):
        TrainingArguments.from_yaml_file(tmp_path / "x.yaml")
    assert builtins is not None


def test_accelerator_config_behaves_like_upstream() -> None:
    config = AcceleratorConfig(split_batches=True)
    assert config.to_dict()["split_batches"] is True
    assert config.pop("use_configured_state") is False
    assert "use_configured_state" not in config.to_dict()
    with pytest.raises(ValidationError, match="did you mean 'even_batches'"):
        AcceleratorConfig.from_mapping({"even_batch": True})
    assert json.dumps(TrainingArguments().to_dict())
