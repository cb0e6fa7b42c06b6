"""Errors that name the checkpoint file: the kernel's OSError from a write has no file name,
safetensors raises SafetensorError (not an OSError), json a bare JSONDecodeError."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors import SafetensorError


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Re-raise a failed write of `path` as an OSError that names it (errno kept)."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(
            error.errno, f"{error.strerror} (writing checkpoint file)", str(path)
        ) from error
    except SafetensorError as error:
        # "os error N" (safetensors >= 0.5) or "Os { code: N, ..." (older releases)
        found = re.search(r"(?:os error |code: )(\d+)", str(error))
        code = int(found.group(1)) if found else errno.EIO
        raise OSError(code, f"{os.strerror(code)} (writing checkpoint file)", str(path)) from error


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Re-raise a failed parse of `path` as a ValueError that names it."""
    try:
        yield
    except (SafetensorError, ValueError, TypeError, KeyError) as error:
        raise ValueError(f"Cannot read checkpoint file {path}: {error}") from error
