"""The device layer is found by registration or by entry point, never imported by name."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from trainer_args import TrainingArguments, device_layer

GROUP = device_layer.ENTRY_POINT_GROUP


def _facts(device: str) -> Any:
    return types.SimpleNamespace(device=device, n_gpu=0, parallel_mode=None, distributed_state=None)


@pytest.fixture
def nothing_registered(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No registration and no installed provider, whatever this environment holds."""
    monkeypatch.setattr(device_layer, "_registered", None)
    monkeypatch.setattr(device_layer, "_declared_entry_points", lambda: ())
    return monkeypatch


def _provide(monkeypatch: pytest.MonkeyPatch, *points: tuple[str, str]) -> None:
    monkeypatch.setattr(
        device_layer,
        "_declared_entry_points",
        lambda: tuple(EntryPoint(name, value, GROUP) for name, value in points),
    )


def test_the_last_registration_wins(nothing_registered: pytest.MonkeyPatch) -> None:
    device_layer.register_device_setup(lambda args: _facts("first"))
    device_layer.register_device_setup(lambda args: _facts("second"))
    assert device_layer.device_layer_available()
    assert TrainingArguments().device == "second"


def test_an_entry_point_is_loaded_once_and_registered(
    nothing_registered: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("fake_device_layer")
    module.setup = lambda args: _facts("from the entry point")  # type: ignore[attr-defined]
    nothing_registered.setitem(sys.modules, "fake_device_layer", module)
    _provide(nothing_registered, ("b", "no_such_module:setup"), ("a", "fake_device_layer:setup"))
    assert device_layer.device_layer_available()
    assert TrainingArguments().device == "from the entry point"  # "a" sorts first
    _provide(nothing_registered)  # the provider is gone: its registration answers now
    assert device_layer.device_setup_function() is module.setup
    assert TrainingArguments().device == "from the entry point"


def test_nothing_provided_says_what_to_install(nothing_registered: pytest.MonkeyPatch) -> None:
    assert not device_layer.device_layer_available()
    args = TrainingArguments(per_device_train_batch_size=3)
    assert args.train_batch_size == 3  # no device layer: no GPU multiplies the batch
    with pytest.raises(ImportError, match=rf"pip install trainer-dist.*{GROUP}"):
        _ = args.device


def test_a_provider_that_cannot_import_says_what_to_install(
    nothing_registered: pytest.MonkeyPatch,
) -> None:
    _provide(nothing_registered, ("x", "no_such_module_anywhere:setup"))
    with pytest.raises(ImportError, match=r"pip install trainer-dist.*no_such_module_anywhere"):
        _ = TrainingArguments().n_gpu
