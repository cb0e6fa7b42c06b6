"""Load: 20 000 small optimizer steps keep memory flat except for the log history itself.

One subprocess (a clean heap, nothing else of the test session in it) trains a tiny model
for 20k steps, logging every 5 steps (4 000 log entries). After a warm-up of 2 000 steps
(allocator pools, dataloader and optimizer state all exist by then) and again at the end,
it collects garbage and reads VmRSS.

The bound: RSS may grow by what the log history grew by (its list, dicts, keys and values,
measured with sys.getsizeof) plus 2 MiB. A run without logging grows ~0.4 MiB here, so the
2 MiB leave room for allocator noise while still catching any per-step leak of more than
about 2 MiB / 18 000 steps = 116 bytes: one leaked tensor, dict or list per step is more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from crash_support import SCRIPTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc"),
]

MAX_STEPS, LOGGING_STEPS, WARMUP = 20_000, 5, 2_000
SLACK = 2 * 1024**2


def test_memory_stays_flat_over_20k_steps(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "long_run.py"), str(tmp_path), str(MAX_STEPS),
         str(LOGGING_STEPS), str(WARMUP)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result["global_step"] == MAX_STEPS
    assert result["log_entries"] == MAX_STEPS // LOGGING_STEPS + 1  # + the final train summary
    growth = result["end_rss"] - result["warm_rss"]
    log_growth = result["end_log"] - result["warm_log"]
    assert growth <= log_growth + SLACK, result
