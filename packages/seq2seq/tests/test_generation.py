"""Generation kwargs precedence, loading generation configs, and padding generated ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer_seq2seq.generation import (
    GenerationConfig,
    generation_pad_width,
    load_generation_config,
    pad_tensor_to_length,
    padded_generation_width,
    resolve_generation_kwargs,
)


@pytest.mark.parametrize(
    ("call", "max_length", "num_beams", "expected"),
    [
        ({}, None, None, {}),
        ({}, 8, 2, {"max_length": 8, "num_beams": 2}),
        ({"max_length": 5}, 8, None, {"max_length": 5}),
        # max_new_tokens already bounds the length: generation_max_length is not added.
        ({"max_new_tokens": 3}, 8, None, {"max_new_tokens": 3}),
        ({"max_length": None}, 8, None, {"max_length": 8}),
        ({"num_beams": 4, "length_penalty": 0.5}, None, 2, {"num_beams": 4, "length_penalty": 0.5}),
        ({"num_beams": None}, None, 2, {"num_beams": 2}),
    ],
)
def test_call_kwargs_win_over_the_arguments(
    call: dict[str, object],
    max_length: int | None,
    num_beams: int | None,
    expected: dict[str, object],
) -> None:
    assert resolve_generation_kwargs(call, max_length, num_beams) == expected


def test_the_callers_kwargs_are_not_modified() -> None:
    call = {"num_beams": None}
    resolve_generation_kwargs(call, 8, 2)
    assert call == {"num_beams": None}


def test_load_from_dict_file_and_folder(tmp_path: Path) -> None:
    data = {"max_length": 12, "num_beams": 2, "transformers_version": "5.0"}
    (tmp_path / "generation_config.json").write_text(json.dumps(data))
    (tmp_path / "custom.json").write_text(json.dumps({**data, "max_length": 7}))
    from_dict = load_generation_config(data)
    from_folder = load_generation_config(tmp_path)
    from_file = load_generation_config(str(tmp_path / "custom.json"))
    assert isinstance(from_dict, GenerationConfig)
    assert (from_dict.max_length, from_dict.num_beams) == (12, 2)
    assert from_folder == from_dict
    assert from_file.max_length == 7
    assert from_dict.to_dict()["transformers_version"] == "5.0"  # unknown keys round-trip


def test_a_config_object_is_copied() -> None:
    config = GenerationConfig(max_length=9)
    loaded = load_generation_config(config)
    assert loaded == config and loaded is not config


def test_the_models_config_class_is_used(tmp_path: Path) -> None:
    class OtherConfig(GenerationConfig):
        pass

    loaded = load_generation_config({"max_length": 4}, template=OtherConfig())
    assert type(loaded) is OtherConfig


def test_missing_paths_and_bad_values_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither a JSON file nor a folder"):
        load_generation_config(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match=r"without a generation_config\.json"):
        load_generation_config(tmp_path)
    with pytest.raises(ValueError, match=r"early_stopping(.|\n)*Fix these issues"):
        load_generation_config({"num_beams": 1, "early_stopping": True})
    with pytest.raises(ValueError, match="max_new_tokens"):
        load_generation_config({"max_new_tokens": 0})


def test_padding_follows_the_config_width() -> None:
    assert generation_pad_width(3, 5, None) == 5
    # Wider than max_length: max_new_tokens + 1 applies only when that is wider still.
    assert generation_pad_width(3, 2, 4) == 5
    assert generation_pad_width(3, 2, None) is None
    assert generation_pad_width(3, 3, 1) is None
    ids = torch.tensor([[0, 5, 1]])
    assert pad_tensor_to_length(ids, 5, 9).tolist() == [[0, 5, 1, 9, 9]]


def test_unset_max_length_means_twenty() -> None:
    class Bare:
        max_length = None

    assert padded_generation_width(Bare()) == (20, None)
    assert padded_generation_width(GenerationConfig(max_length=7, max_new_tokens=3)) == (7, 3)
