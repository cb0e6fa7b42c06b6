"""Scheduler state as JSON, so checkpoints never need pickle.

`scheduler_state_to_json` turns `scheduler.state_dict()` into values that `json.dumps`
writes as strict JSON and `json.loads` reads back to the same Python values: floats
keep every bit (Python writes the shortest repr that round-trips), while the few
things JSON lacks are tagged: non-finite floats (`best` starts at inf in
ReduceLROnPlateau and GreedyLR), tuples, and dicts whose keys are not strings.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

_FLOAT_TAG = "__float__"
_TUPLE_TAG = "__tuple__"
_ITEMS_TAG = "__items__"
_TAGS = (_FLOAT_TAG, _TUPLE_TAG, _ITEMS_TAG)


class _Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


def _encode(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {_FLOAT_TAG: repr(value)}
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _encode_dict(value, path)
    raise TypeError(
        f"Scheduler state at {path} is a {type(value).__name__}, which has no JSON form; "
        "only None, bool, int, float, str, list, tuple and dict values can be saved without pickle."
    )


def _encode_dict(value: dict[Any, Any], path: str) -> dict[str, Any]:
    plain_keys = all(isinstance(k, str) for k in value)
    # A real one-key dict named like a tag would be misread on loading: store it as items too.
    looks_tagged = len(value) == 1 and next(iter(value)) in _TAGS
    if plain_keys and not looks_tagged:
        return {k: _encode(v, f"{path}.{k}") for k, v in value.items()}
    items = [[_encode(k, f"{path}<key>"), _encode(v, f"{path}[{k!r}]")] for k, v in value.items()]
    return {_ITEMS_TAG: items}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == _FLOAT_TAG:
            return float(inner)
        if key == _TUPLE_TAG:
            return tuple(_decode(v) for v in inner)
        if key == _ITEMS_TAG:
            return {_decode(k): _decode(v) for k, v in inner}
    return {k: _decode(v) for k, v in value.items()}


def scheduler_state_to_json(scheduler: _Stateful) -> dict[str, Any]:
    """The scheduler's `state_dict()` in a form `json.dumps(..., allow_nan=False)` accepts.

    Raises TypeError naming the entry when the state holds something JSON cannot
    represent (for instance a plain `LambdaLR` whose multiplier keeps a tensor).
    """
    encoded = _encode(scheduler.state_dict(), "state_dict")
    assert isinstance(encoded, dict)
    return encoded


def decode_scheduler_state(state: dict[str, Any]) -> dict[str, Any]:
    """The `state_dict()` that `scheduler_state_to_json` encoded."""
    decoded = _decode(state)
    if not isinstance(decoded, dict):
        raise TypeError(f"A scheduler state must be a JSON object, got {type(decoded).__name__}")
    return decoded


def load_scheduler_state_from_json(scheduler: _Stateful, state: dict[str, Any]) -> None:
    """Load a state written by `scheduler_state_to_json` into a scheduler of the same kind."""
    scheduler.load_state_dict(decode_scheduler_state(state))
