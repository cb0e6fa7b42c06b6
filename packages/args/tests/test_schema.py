"""json_schema: every field with type, default, allowed values and its help as description."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from trainer_args import Seq2SeqTrainingArguments, TrainingArguments, json_schema
from trainer_args.fields import arg_fields, help_of

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """A small validator for the JSON Schema keywords json_schema emits."""
    if "anyOf" in schema and not any(conforms(value, s) for s in schema["anyOf"]):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    kind = schema.get("type")
    if kind == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        return False
    if kind == "number" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return False
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        return False
    if kind == "array" and "items" in schema:
        return all(conforms(v, schema["items"]) for v in value)
    if kind == "object":
        return _object_conforms(value, schema)
    return True


def _object_conforms(value: dict[str, Any], schema: dict[str, Any]) -> bool:
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            if not conforms(item, props[key]):
                return False
        elif extra is False or (isinstance(extra, dict) and not conforms(item, extra)):
            return False
    return True


def test_schema_lists_every_field_with_its_help() -> None:
    schema = json_schema(TrainingArguments)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert list(schema["properties"]) == [f.name for f in arg_fields(TrainingArguments)]
    for field in arg_fields(TrainingArguments):
        assert schema["properties"][field.name]["description"] == help_of(field)
    assert schema["additionalProperties"] is False
    json.dumps(schema)


def test_schema_types_defaults_and_enums() -> None:
    props = json_schema(TrainingArguments)["properties"]
    assert props["per_device_train_batch_size"] == {
        **props["per_device_train_batch_size"],
        "type": "integer",
        "default": 8,
    }
    assert props["learning_rate"]["type"] == "number"
    assert props["remove_unused_columns"]["type"] == "boolean"
    assert props["eval_strategy"]["enum"] == ["no", "steps", "epoch"]
    assert props["log_level"]["enum"][-1] == "passive"
    assert None in props["ddp_backend"]["enum"]
    assert props["include_for_metrics"]["default"] == []
    assert (
        props["accelerator_config"]["anyOf"][2]["properties"]["split_batches"]["type"] == "boolean"
    )


@pytest.mark.parametrize(
    "args",
    [
        TrainingArguments(),
        TrainingArguments(
            eval_strategy="steps",
            fsdp="full_shard",
            debug="underflow_overflow",
            report_to="tensorboard",
        ),
        Seq2SeqTrainingArguments(predict_with_generate=True, generation_max_length=5),
    ],
)
def test_to_dict_conforms_to_schema(args: TrainingArguments) -> None:
    assert conforms(args.to_dict(), json_schema(type(args)))


def test_schema_rejects_wrong_values() -> None:
    schema = json_schema(TrainingArguments)
    assert not conforms({"learning_rate": "fast"}, schema)
    assert not conforms({"eval_strategy": "sometimes"}, schema)
    assert not conforms({"unknown": 1}, schema)


def test_schema_of_a_dataclass() -> None:
    @dataclasses.dataclass
    class Small:
        """Small arguments."""

        x: int
        names: list[str] = dataclasses.field(default_factory=list, metadata={"help": "names"})

    schema = json_schema(Small)
    assert schema["required"] == ["x"] and schema["description"] == "Small arguments."
    assert schema["properties"]["names"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "names",
    }
