"""find_executable_batch_size: halve on out-of-memory, otherwise stay out of the way."""

from __future__ import annotations

import pytest
import torch

from trainer_dist.batch_size import find_executable_batch_size, should_reduce_batch_size


def _fits_at(limit: int, tried: list[int], error: type[BaseException] | None = None):  # type: ignore[no-untyped-def]
    def train(batch_size: int, scale: int = 1) -> int:
        tried.append(batch_size)
        if batch_size > limit:
            if error is None:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return batch_size * scale

    return train


def test_halves_after_out_of_memory_until_it_fits() -> None:
    tried: list[int] = []
    wrapped = find_executable_batch_size(_fits_at(20, tried), starting_batch_size=128)
    assert wrapped(scale=2) == 32
    assert tried == [128, 64, 32, 16]


def test_runtime_error_with_an_oom_message_counts_too() -> None:
    tried: list[int] = []
    wrapped = find_executable_batch_size(_fits_at(8, tried, RuntimeError), starting_batch_size=16)
    assert wrapped() == 8
    assert tried == [16, 8]


def test_as_a_decorator_with_arguments() -> None:
    tried: list[int] = []

    @find_executable_batch_size(starting_batch_size=8)
    def train(batch_size: int) -> int:
        tried.append(batch_size)
        if batch_size > 2:
            raise torch.OutOfMemoryError("out of memory")
        return batch_size

    assert train() == 2
    assert tried == [8, 4, 2]


def test_other_errors_propagate_at_once() -> None:
    calls: list[int] = []

    def train(batch_size: int) -> None:
        calls.append(batch_size)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        find_executable_batch_size(train, starting_batch_size=64)()
    assert calls == [64]


def test_gives_up_at_zero() -> None:
    def train(batch_size: int) -> None:
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(RuntimeError, match="reached zero"):
        find_executable_batch_size(train, starting_batch_size=4)()


def test_disabled_passes_the_starting_size_as_keyword() -> None:
    tried: list[int] = []
    wrapped = find_executable_batch_size(
        _fits_at(1, tried), starting_batch_size=16, auto_find_batch_size=False
    )
    with pytest.raises(torch.OutOfMemoryError):
        wrapped()
    assert tried == [16]


def test_passing_the_batch_size_yourself_is_a_type_error() -> None:
    def train(batch_size: int) -> int:
        return batch_size

    with pytest.raises(TypeError, match="Batch size was passed"):
        find_executable_batch_size(train, starting_batch_size=4)(4)


def test_should_reduce_batch_size() -> None:
    assert should_reduce_batch_size(torch.OutOfMemoryError("x"))
    assert should_reduce_batch_size(RuntimeError("XPU out of memory. Tried to allocate"))
    assert should_reduce_batch_size(RuntimeError("MPS backend out of memory"))
    assert not should_reduce_batch_size(RuntimeError("shape mismatch"))
    assert not should_reduce_batch_size(ValueError("out of memory"))
