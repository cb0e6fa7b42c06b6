"""`accelerator_config` in every form a transformers script passes it, compared side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trainer_args import AcceleratorConfig, TrainingArguments, ValidationError

OPTIONS = {"split_batches": True, "even_batches": False, "non_blocking": True}


def _options(config: Any) -> dict[str, Any]:
    return {key: getattr(config, key) for key in OPTIONS}


@pytest.fixture
def json_file(tmp_path: Path) -> Path:
    path = tmp_path / "accelerator.json"
    path.write_text(json.dumps(OPTIONS))
    return path


def _forms(json_file: Path) -> dict[str, Any]:
    return {
        "dict": dict(OPTIONS),
        "json string": json.dumps(OPTIONS),
        "path str": str(json_file),
        "pathlib.Path": json_file,
        "our object": AcceleratorConfig(**OPTIONS),
    }


@pytest.mark.parametrize("form", ["dict", "json string", "path str", "pathlib.Path", "our object"])
def test_every_form_gives_the_same_config(form: str, json_file: Path) -> None:
    args = TrainingArguments(output_dir="o", accelerator_config=_forms(json_file)[form])
    assert isinstance(args.accelerator_config, AcceleratorConfig)
    assert _options(args.accelerator_config) == OPTIONS
    assert args.to_dict()["accelerator_config"]["split_batches"] is True


@pytest.mark.reference
@pytest.mark.parametrize("form", ["dict", "json string", "path str", "pathlib.Path"])
def test_forms_match_transformers(form: str, json_file: Path, hf: Any) -> None:
    value = _forms(json_file)[form]
    ours = TrainingArguments(output_dir="o", accelerator_config=value)
    theirs = hf.TrainingArguments(output_dir="o", accelerator_config=value)
    assert _options(ours.accelerator_config) == _options(theirs.accelerator_config)


@pytest.mark.reference
def test_a_transformers_accelerator_config_object_is_taken(hf: Any) -> None:
    from transformers.trainer_pt_utils import AcceleratorConfig as HFAcceleratorConfig

    theirs = HFAcceleratorConfig(split_batches=True, gradient_accumulation_kwargs={"num_steps": 2})
    args = TrainingArguments(output_dir="o", accelerator_config=theirs)
    assert isinstance(args.accelerator_config, AcceleratorConfig)
    assert args.accelerator_config.to_dict() == theirs.to_dict()


def test_a_duck_typed_object_with_unknown_options_is_refused_by_name() -> None:
    class Foreign:
        def to_dict(self) -> dict[str, Any]:
            return {"split_batches": True, "spilt_batches": False}

    with pytest.raises(ValidationError) as info:
        TrainingArguments(output_dir="o", accelerator_config=Foreign())
    assert info.value.errors[0].field == "accelerator_config.spilt_batches"


@pytest.mark.parametrize("cls_name", ["ours", "transformers"])
def test_passing_the_class_itself_is_a_clear_error(cls_name: str) -> None:
    if cls_name == "ours":
        cls: Any = AcceleratorConfig
    else:
        cls = pytest.importorskip("transformers.trainer_pt_utils").AcceleratorConfig
    with pytest.raises(ValidationError) as info:
        TrainingArguments(output_dir="o", accelerator_config=cls)
    error = info.value.errors[0]
    assert error.field == "accelerator_config"
    assert "got a class, not an instance" in str(info.value)


def test_other_values_name_what_is_allowed() -> None:
    with pytest.raises(ValidationError, match="expected an AcceleratorConfig, a dict"):
        TrainingArguments(output_dir="o", accelerator_config=3)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ValidationError, match=r"nope\.json"):
        TrainingArguments(output_dir="o", accelerator_config=missing)
