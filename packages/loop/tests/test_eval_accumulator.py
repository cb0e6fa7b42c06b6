"""EvalAccumulator: the arrays predict()/evaluate() return, however the batches come.

The reference is transformers' own `EvalLoopContainer` fed the same batches (it folds them
with `nested_concat`: concatenate on dim 0, pad dim 1 to the widest batch with -100).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch

from trainer_loop.eval_accumulation import EvalAccumulator


def _reference(batches: list[torch.Tensor], every: int | None) -> Any:
    """transformers' EvalLoopContainer, moved to numpy as often as ours."""
    pt_utils = pytest.importorskip("transformers.trainer_pt_utils")  # absent in `nox -s lowest`
    container = pt_utils.EvalLoopContainer(do_nested_concat=True, padding_index=-100)
    for i, batch in enumerate(batches):
        container.add(batch)
        if every is not None and (i + 1) % every == 0:
            container.to_cpu_and_numpy()
    return container.get_arrays()


def _ragged(seed: int, n_batches: int, trailing: tuple[int, ...] = ()) -> list[torch.Tensor]:
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 1000, (rng.randint(1, 5), rng.randint(1, 9), *trailing), generator=gen)
        for _ in range(n_batches)
    ]


def _accumulate(batches: list[torch.Tensor], rows: int | None, every: int | None) -> object:
    acc = EvalAccumulator(rows=rows)
    for i, batch in enumerate(batches):
        acc.add(batch)
        if every is not None and (i + 1) % every == 0:
            acc.to_cpu_and_numpy()
    return acc.get_arrays()


@pytest.mark.reference
@pytest.mark.parametrize("every", [None, 1, 3])
@pytest.mark.parametrize("trailing", [(), (4,)])
@pytest.mark.parametrize("seed", range(5))
def test_ragged_batches_give_transformers_padding(seed: int, trailing: tuple[int, ...],
                                                  every: int | None) -> None:  # fmt: skip
    batches = _ragged(seed, 12, trailing)
    expected = _reference(batches, every)
    exact_rows = sum(len(b) for b in batches)
    for rows in (None, exact_rows, exact_rows - 3, exact_rows + 7, 1):
        result = _accumulate(batches, rows, every)
        assert isinstance(result, np.ndarray)
        np.testing.assert_array_equal(result, expected)
        assert result.dtype == expected.dtype


def test_exact_row_count_allocates_the_result_once() -> None:
    """With the dataset's length the result is the preallocated array itself, no final copy."""
    batches = [torch.full((4, 8), i) for i in range(5)]
    acc = EvalAccumulator(rows=20)
    for b in batches:
        acc.add(b)
        acc.to_cpu_and_numpy()
    writer = acc._writer
    assert writer is not None
    result = acc.get_arrays()
    assert result is writer.array
    np.testing.assert_array_equal(result, np.repeat(np.arange(5), 4)[:, None].repeat(8, axis=1))


def test_one_dimensional_losses_and_a_type_change_fall_back_to_concatenation() -> None:
    losses = [torch.tensor([0.5, 1.5]), torch.tensor([2.5])]
    np.testing.assert_array_equal(_accumulate(losses, 3, 1), np.array([0.5, 1.5, 2.5], "f4"))
    mixed = [torch.ones(2, 3), torch.ones(2, 3, dtype=torch.float64)]  # dtype changes mid-way
    result = _accumulate(mixed, 4, 1)
    assert isinstance(result, np.ndarray) and result.shape == (4, 3)


def test_nested_outputs_and_no_concat_are_unchanged() -> None:
    acc = EvalAccumulator(rows=4)
    acc.add((torch.zeros(2, 3), torch.ones(2)))
    acc.add((torch.zeros(2, 5), torch.ones(2)))
    logits, other = acc.get_arrays()
    assert logits.shape == (4, 5) and (logits[:2, 3:] == -100).all() and other.shape == (4,)
    listed = EvalAccumulator(do_concat=False, rows=4)
    listed.add(torch.zeros(2, 3))
    listed.add(torch.zeros(2, 5))
    assert [a.shape for a in listed.get_arrays()] == [(2, 3), (2, 5)]
