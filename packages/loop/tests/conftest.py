"""Test configuration for trainer-loop.

Helpers shared by these tests are in trainer_support.py (this folder is put on sys.path, so
test modules import it as `trainer_support`); helpers shared with other suites are in
tests/support/ (imported as `support`).

Some test modules compare against `transformers` (the reference) as soon as
they are imported. Where it is not installed (the `lowest` nox session, which
pins our dependency floors that transformers' own requirements exclude),
those modules are left out of collection instead of failing to import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))  # trainer_support.py, under importlib mode

_NEED_TRANSFORMERS_AT_IMPORT = [
    "test_callbacks_flow.py",
    "test_callbacks_handler.py",
    "test_callbacks_progress.py",
    "test_optimizers.py",
    "test_optimizers_optional.py",
    "test_outputs.py",
    "test_reporting.py",
    "test_schedulers.py",
    "test_state.py",
]

collect_ignore: list[str] = []
if importlib.util.find_spec("transformers") is None:
    collect_ignore += _NEED_TRANSFORMERS_AT_IMPORT
