"""trainer_dist provides the device layer to trainer_args: registered on import, and installed as an entry point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import torch

import trainer_dist
from trainer_args import TrainingArguments, device_layer
from trainer_dist.devices import setup_devices


def test_importing_trainer_dist_registers_its_setup() -> None:
    registered = device_layer.device_setup_function()
    assert registered in (trainer_dist._setup_devices, setup_devices)
    assert registered(TrainingArguments(use_cpu=True)).device == torch.device("cpu")


def test_the_entry_point_names_setup_devices() -> None:
    (point,) = entry_points(group=device_layer.ENTRY_POINT_GROUP)
    assert point.load() is setup_devices


def test_a_script_that_never_imports_trainer_dist_gets_its_device() -> None:
    # A fresh process: nothing registered, so the entry point must find trainer_dist.
    script = textwrap.dedent(
        """
        import sys
        from trainer_args import TrainingArguments
        assert "trainer_dist" not in sys.modules
        print(TrainingArguments(use_cpu=True).device, "trainer_dist.devices" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cpu", "True"]
