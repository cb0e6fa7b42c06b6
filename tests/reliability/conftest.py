"""Reliability tests: real faults (SIGKILL, IO errors, hostile files and configs, NaN losses, load).

The helpers live beside the tests (not a package): make them importable under importlib mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
for folder in (HERE, HERE / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
