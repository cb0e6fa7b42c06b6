"""tests/support: importable by every suite, and light enough for the args venv (no torch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.launch import free_port, launch_env

TESTS = Path(__file__).resolve().parent
LIGHT_MODULES = ["support", "support.torch_threads", "support.launch", "support.accelerate_state",
                 "support.gpu_runner"]  # fmt: skip


def test_light_modules_import_neither_torch_nor_accelerate() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'accelerate', 'numpy') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_launch_env_drops_launcher_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT", "ACCELERATE_USE_FSDP"):
        monkeypatch.setenv(name, "3")
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    env = launch_env(EXTRA="1")
    assert not {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT", "ACCELERATE_USE_FSDP"} & set(env)
    assert (env["SOMETHING_ELSE"], env["OMP_NUM_THREADS"], env["EXTRA"]) == ("kept", "1", "1")


def test_free_port_can_be_bound() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname()[1] == port
