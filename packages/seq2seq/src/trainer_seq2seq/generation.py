"""Generation settings: a small `GenerationConfig`, loading one from the arguments, and the
rules `Seq2SeqTrainer` uses to fill in generation kwargs and to pad generated ids.

`transformers` is never imported: a `transformers.GenerationConfig` passed by the user (or
owned by a `transformers` model) is used through the methods it shares with the class below
(`from_dict`, `validate`, `update`, `to_dict`).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "GENERATION_CONFIG_NAME",
    "GenerationConfig",
    "generation_pad_width",
    "load_generation_config",
    "pad_tensor_to_length",
    "padded_generation_width",
    "resolve_generation_kwargs",
]

GENERATION_CONFIG_NAME = "generation_config.json"
# transformers' default `max_length` for a generation config that leaves it unset.
DEFAULT_MAX_LENGTH = 20


@attrs.define
class GenerationConfig:
    """The generation settings the reference model understands (a subset of transformers').

    Unknown keys read from a file or dict are kept in `extra`, so a transformers
    `generation_config.json` round-trips through `from_dict` / `to_dict`.
    """

    max_length: int = DEFAULT_MAX_LENGTH
    max_new_tokens: int | None = None
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None
    decoder_start_token_id: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_dict(cls, config_dict: Mapping[str, Any], **kwargs: Any) -> GenerationConfig:
        """Build a config from a dict such as a `generation_config.json`, `kwargs` overriding it.

        A None value keeps the field's default (transformers writes unset values as None);
        keys that are not fields of this class are kept in `extra`.
        """
        merged = {**config_dict, **kwargs}
        fields = {f.name: f for f in attrs.fields(cls) if f.name != "extra"}
        # transformers writes unset values as None: those keep this class's defaults.
        config = cls(
            **{
                k: v
                for k, v in merged.items()
                if k in fields and (v is not None or fields[k].default is None)
            }
        )
        config.extra = {k: v for k, v in merged.items() if k not in fields}
        return config

    def to_dict(self) -> dict[str, Any]:
        """The settings as one flat dict: the fields, then the `extra` keys read with them."""
        data = attrs.asdict(self, recurse=False)
        extra = data.pop("extra")
        return {**data, **extra}

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the known fields among `kwargs`; return the others (as transformers does)."""
        unused = {}
        for key, value in kwargs.items():
            if key in attrs.fields_dict(type(self)) and key != "extra":
                setattr(self, key, value)
            else:
                unused[key] = value
        return unused

    def validate(self, strict: bool = False) -> None:
        """Raise ValueError for impossible values; with `strict`, also for contradictory ones."""
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise ValueError(
                f"`max_new_tokens` must be greater than 0, but is {self.max_new_tokens}."
            )
        if self.max_length < 1:
            raise ValueError(f"`max_length` must be at least 1, but is {self.max_length}.")
        if self.num_beams < 1:
            raise ValueError(f"`num_beams` must be at least 1, but is {self.num_beams}.")
        if not strict or self.num_beams > 1:
            return
        # The same "beam-only flag without beams" mistakes transformers refuses in strict mode.
        if self.early_stopping is not False:
            raise ValueError(
                "GenerationConfig is invalid: `early_stopping` is set but `num_beams` is 1; "
                "set `num_beams>1` or unset `early_stopping`."
            )
        if self.length_penalty != 1.0:
            raise ValueError(
                "GenerationConfig is invalid: `length_penalty` is set but `num_beams` is 1; "
                "set `num_beams>1` or unset `length_penalty`."
            )

    def to_json_file(self, path: str | os.PathLike[str]) -> None:
        """Write `to_dict()` to `path` as indented JSON with sorted keys."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> None:
        """Write `generation_config.json` into `save_directory`, creating the folder if needed."""
        os.makedirs(save_directory, exist_ok=True)
        self.to_json_file(Path(save_directory) / GENERATION_CONFIG_NAME)


def resolve_generation_kwargs(
    gen_kwargs: Mapping[str, Any],
    generation_max_length: int | None,
    generation_num_beams: int | None,
) -> dict[str, Any]:
    """The kwargs `evaluate`/`predict` hand to `generate`: call kwargs win over the arguments.

    `generation_max_length` only applies when the call gives neither `max_length` nor
    `max_new_tokens` (either one already bounds the length).
    """
    resolved = dict(gen_kwargs)
    if (
        resolved.get("max_length") is None
        and resolved.get("max_new_tokens") is None
        and generation_max_length is not None
    ):
        resolved["max_length"] = generation_max_length
    if resolved.get("num_beams") is None and generation_num_beams is not None:
        resolved["num_beams"] = generation_num_beams
    return resolved


def _config_class(template: Any) -> Any:
    # Build the same kind of config the model already has (a transformers model keeps a
    # transformers GenerationConfig); fall back to ours.
    cls = type(template)
    return cls if callable(getattr(cls, "from_dict", None)) else GenerationConfig


def _read_json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object, so it is not a generation config.")
    return data


def _load_from_location(location: str | os.PathLike[str], config_cls: Any) -> Any:
    path = Path(location)
    if path.is_file():
        return config_cls.from_dict(_read_json(path))
    if path.is_dir():
        file = path / GENERATION_CONFIG_NAME
        if not file.is_file():
            raise FileNotFoundError(f"{path} is a folder without a {GENERATION_CONFIG_NAME} file.")
        return config_cls.from_dict(_read_json(file))
    if callable(getattr(config_cls, "from_pretrained", None)):
        # Not on disk: a Hub id, which only a transformers GenerationConfig can resolve.
        return config_cls.from_pretrained(str(location))
    raise FileNotFoundError(
        f"generation_config={str(location)!r} is neither a JSON file nor a folder holding "
        f"{GENERATION_CONFIG_NAME}."
    )


def load_generation_config(gen_config_arg: Any, template: Any = None) -> Any:
    """Turn `Seq2SeqTrainingArguments.generation_config` into a validated generation config.

    A config object is deep-copied; a dict, a JSON file or a folder holding
    `generation_config.json` is read into the class of `template` (the model's current
    generation config) when it has `from_dict`, else into `GenerationConfig`.
    Strict validation runs so that a bad config fails now, not when it is saved.
    """
    config_cls = _config_class(template)
    if isinstance(gen_config_arg, Mapping):
        gen_config = config_cls.from_dict(dict(gen_config_arg))
    elif isinstance(gen_config_arg, (str, os.PathLike)):
        gen_config = _load_from_location(gen_config_arg, config_cls)
    else:
        gen_config = copy.deepcopy(gen_config_arg)
    validate = getattr(gen_config, "validate", None)
    if callable(validate):
        try:
            validate(strict=True)
        except ValueError as exc:
            raise ValueError(str(exc) + "\n\nFix these issues to train your model.") from exc
    return gen_config


def padded_generation_width(gen_config: Any) -> tuple[int, int | None]:
    """`(max_length, max_new_tokens)` of a model's generation config, defaults filled in.

    transformers fills unset values with its defaults in place before reading them, so a
    transformers config is updated the same way here (the model sees the same state after
    evaluation as with transformers).
    """
    defaults = getattr(gen_config, "_get_default_generation_params", None)
    update = getattr(gen_config, "update", None)
    if callable(defaults) and callable(update):
        update(**defaults(), defaults_only=True)
    max_length = getattr(gen_config, "max_length", None)
    if max_length is None:
        max_length = DEFAULT_MAX_LENGTH
    return max_length, getattr(gen_config, "max_new_tokens", None)


def pad_tensor_to_length(tensor: torch.Tensor, length: int, pad_token_id: int) -> torch.Tensor:
    """Right-pad the last dimension of a 2-D tensor with `pad_token_id` up to `length`."""
    padded = torch.full(
        (tensor.shape[0], length), pad_token_id, dtype=tensor.dtype, device=tensor.device
    )
    padded[:, : tensor.shape[-1]] = tensor
    return padded


def generation_pad_width(width: int, max_length: int, max_new_tokens: int | None) -> int | None:
    """The width transformers' Seq2SeqTrainer pads generated ids (and labels) to, or None.

    Narrower than the config's `max_length`: padded to it. Otherwise, narrower than
    `max_new_tokens + 1` (the new tokens plus the decoder start token): padded to that.
    Wider tensors are left as they are (None).
    """
    if width < max_length:
        return max_length
    if max_new_tokens is not None and width < max_new_tokens + 1:
        return max_new_tokens + 1
    return None
