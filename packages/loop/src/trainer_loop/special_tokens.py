"""Copy a tokenizer's PAD/BOS/EOS ids into the model config and generation config before training.

transformers' `align_special_tokens`, by duck typing: a tokenizer is anything with
`eos_token_id`/`bos_token_id`/`pad_token_id`; a processor is anything holding such a
tokenizer as `.tokenizer`. Ids the tokenizer does not define are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["align_special_tokens", "tokenizer_of"]

_TOKEN_NAMES = ("eos_token_id", "bos_token_id", "pad_token_id")


def _is_tokenizer(obj: Any) -> bool:
    return obj is not None and all(hasattr(obj, name) for name in _TOKEN_NAMES)


def tokenizer_of(processing_class: Any) -> Any:
    """The tokenizer itself, a processor's tokenizer, or None (image processors, feature extractors)."""
    if _is_tokenizer(processing_class):
        return processing_class
    inner = getattr(processing_class, "tokenizer", None)
    return inner if _is_tokenizer(inner) else None


def _as_list(value: Any) -> tuple[list[Any], bool]:
    return (value, True) if isinstance(value, list) else ([value], False)


def _align(
    name: str,
    tokenizer: Any,
    config: Any,
    generation_config: Any,
    updated: dict[str, Any],
    several: bool,
) -> None:
    token_id = getattr(tokenizer, name)
    if token_id is None:
        return
    config_ids, config_is_list = _as_list(getattr(config, name, None))
    generation_ids, _ = _as_list(
        getattr(generation_config, name) if generation_config is not None else None
    )
    if token_id in config_ids and (generation_config is None or token_id in generation_ids):
        return
    updated[name] = token_id
    if several and config_is_list:
        # Collapsing a list of ids to one would drop stop tokens: only add.
        setattr(config, name, [token_id, *(t for t in config_ids if t != token_id)])
    else:
        setattr(config, name, token_id)
    if generation_config is None:
        return
    if several:
        setattr(
            generation_config,
            name,
            [token_id, *(t for t in generation_ids if t is not None and t != token_id)],
        )
    else:
        setattr(generation_config, name, token_id)


def align_special_tokens(model: Any, processing_class: Any) -> dict[str, Any]:
    """Align the configs with the tokenizer; returns the updated ids (and warns when there are any)."""
    tokenizer = tokenizer_of(processing_class)
    config = getattr(model, "config", None)
    if tokenizer is None or config is None:
        return {}
    if callable(getattr(config, "get_text_config", None)):
        config = config.get_text_config()
    generation_config = getattr(model, "generation_config", None)
    updated: dict[str, Any] = {}
    _align("eos_token_id", tokenizer, config, generation_config, updated, several=True)
    _align("bos_token_id", tokenizer, config, generation_config, updated, several=False)
    _align("pad_token_id", tokenizer, config, generation_config, updated, several=False)
    if updated:
        logger.warning(
            "The tokenizer has new PAD/BOS/EOS tokens that differ from the model config and generation config. "
            "The model config and generation config were aligned accordingly, being updated with the tokenizer's "
            f"values. Updated tokens: {updated}."
        )
    return updated
