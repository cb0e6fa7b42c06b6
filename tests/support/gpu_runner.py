"""Run a GPU test module without pytest: `python tests/gpu/test_x.py` on a bare GPU machine.

    if __name__ == "__main__":
        sys.exit(run_tests(globals(), needs="CUDA", available=torch.cuda.is_available()))

Imports neither pytest nor torch.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from typing import Any


def run_tests(
    namespace: Mapping[str, Any],
    *,
    needs: str,
    available: bool,
    after_each: Callable[[], None] | None = None,
) -> int:
    """Call every `test_*` function of `namespace` in order; print PASS / FAIL (with the
    traceback) per test and a summary. 0 when all pass or `available` is false (the run is
    skipped: nothing to run the tests on), else 1. `after_each` runs after every test."""
    if not available:
        print(f"SKIP: needs a {needs} GPU")
        return 0
    tests: list[tuple[str, Callable[[], None]]] = [
        (name, fn) for name, fn in namespace.items() if name.startswith("test_") and callable(fn)
    ]
    failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}")
        else:
            print(f"PASS {name}")
        finally:
            if after_each is not None:
                after_each()
    print(f"{len(tests) - failed} passed, {failed} failed")
    return 1 if failed else 0
