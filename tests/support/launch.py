"""Launching several processes (torchrun, accelerate launch) from a test."""

from __future__ import annotations

import os
import socket

# Set by a launcher for its children: inherited, they would make a child join the wrong job.
_LAUNCHER_VARIABLES = (
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "ACCELERATE_USE_FSDP",
    "ACCELERATE_MIXED_PRECISION",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (another process may take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_env(**extra: str) -> dict[str, str]:
    """This process's environment for launched children: no inherited rank or launcher
    settings, one torch thread each, unbuffered output; then `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARIABLES}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}, **extra)
    return env
