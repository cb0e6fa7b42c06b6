"""Disk-full and I/O errors injected into the writes of one checkpoint file, as the OS reports them.

A write that fails in the kernel reaches Python in two forms, and both are reproduced here
exactly (checked against a real EFBIG from RLIMIT_FSIZE in test_io_faults.py):

- files written by Python (`open`, `Path.write_text`): `OSError(errno, strerror)` raised by
  `write`, with no file name (the kernel's error is about a descriptor);
- files written by safetensors (Rust): `SafetensorError("Error while serializing: I/O error:
  <strerror> (os error <errno>)")`, which is not an OSError.

In both cases part of the file is on disk when the error comes, as with a real full disk.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import safetensors.torch
from safetensors import SafetensorError

from trainer_loop.checkpoints import codec, model_files

TENSOR_FILES = ("model.safetensors", "optimizer.safetensors", "rng_state_0.safetensors")
JSON_FILES = ("training_args.json", "optimizer.json", "scheduler.json", "trainer_state.json")
CHECKPOINT_FILES = TENSOR_FILES + JSON_FILES


def rust_io_error(errno: int) -> SafetensorError:
    return SafetensorError(
        f"Error while serializing: I/O error: {os.strerror(errno)} (os error {errno})"
    )


class _FailingWriter:
    """A text file whose first write puts half the text on disk, then fails like the kernel."""

    def __init__(self, real: Any, errno: int) -> None:
        self.real, self.errno = real, errno

    def write(self, text: str) -> int:
        self.real.write(text[: len(text) // 2])
        self.real.flush()
        raise OSError(self.errno, os.strerror(self.errno))

    def __enter__(self) -> _FailingWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.real.close()

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextmanager
def failing_write(monkeypatch: pytest.MonkeyPatch, file_name: str, errno: int) -> Iterator[None]:
    """Every write of a file named `file_name` fails with `errno` while the context is open."""
    real_save_file = safetensors.torch.save_file

    def save_file(tensors: Any, filename: str, metadata: Any = None) -> None:
        if os.path.basename(filename) != file_name:
            return real_save_file(tensors, filename, metadata=metadata)
        real_save_file(tensors, filename, metadata=metadata)
        os.truncate(filename, os.path.getsize(filename) // 2)
        raise rust_io_error(errno)

    real_open = builtins.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        named = isinstance(file, (str, os.PathLike)) and os.path.basename(file) == file_name
        if named and "w" in mode:
            return _FailingWriter(handle, errno)
        return handle

    with monkeypatch.context() as patch:
        for module in (safetensors.torch, codec, model_files):
            patch.setattr(module, "save_file", save_file)
        patch.setattr(builtins, "open", open_)
        patch.setattr(io, "open", open_)  # pathlib opens through io.open
        yield
