"""Bundled demo jobs that run out of the box: `trainer demo lm` and `trainer demo seq2seq`.

Each demo is an ordinary job file shipped here (`lm.yaml`, `seq2seq.yaml`) whose factories
live in this package, so `trainer train` runs them too.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEMOS", "demo_job_file"]

DEMOS: dict[str, str] = {
    "lm": "a tiny character-level GPT learns the bundled English corpus",
    "seq2seq": "a tiny encoder-decoder learns to reverse strings, scored by generation",
}


def demo_job_file(kind: str) -> Path:
    """Path of a bundled demo's job file."""
    if kind not in DEMOS:
        raise KeyError(f"no demo {kind!r}; choose from {', '.join(DEMOS)}")
    return Path(str(resources.files("trainer.demos").joinpath(f"{kind}.yaml")))
