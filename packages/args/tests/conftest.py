"""Shared fixtures: a clean process environment and the transformers reference (when installed)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Environment variables that change how arguments normalise or which rank a process has.
_ENV_VARS = (
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "ACCELERATE_MIXED_PRECISION",
    "ACCELERATE_USE_CPU",
    "ACCELERATE_USE_DEEPSPEED",
    "KUBEFLOW_TRAINER_SERVER_URL",
    "DISABLE_KUBEFLOW_INTEGRATION",
    "DISABLE_MLFLOW_INTEGRATION",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture(scope="session")
def hf() -> Any:
    """The transformers module (the reference); tests that use it skip without it."""
    return pytest.importorskip("transformers")


def _normalise_accelerator(d: dict[str, Any]) -> dict[str, Any]:
    """transformers pops `use_configured_state` during device setup; ours keeps the full record."""
    out = dict(d)
    if isinstance(out.get("accelerator_config"), dict):
        out["accelerator_config"] = {
            k: v for k, v in out["accelerator_config"].items() if k != "use_configured_state"
        }
    return out


@pytest.fixture
def comparable() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turn a to_dict() into a form where ours and the reference's compare equal."""
    return _normalise_accelerator


@pytest.fixture
def build_reference(hf: Any) -> Callable[..., Any]:
    """Construct transformers' TrainingArguments (or a given class) quietly."""

    def build(cls: Any = None, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (cls or hf.TrainingArguments)(**kwargs)

    return build
