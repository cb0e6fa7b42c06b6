"""EvalAccumulator: the arrays predict()/evaluate() return, however the batches come.

The reference is the rule transformers applies (`nested_concat`, folded batch by batch):
concatenate on dim 0, pad dim 1 to the widest batch with -100.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trainer_loop.evaluation import EvalAccumulator


def _reference(batches: list[torch.Tensor], padding_index: int = -100) -> np.ndarray:
    arrays = [b.numpy() for b in batches]
    if arrays[0].ndim == 1:
        return np.concatenate(arrays)
    width = max(a.shape[1] for a in arrays)
    out = np.full((sum(len(a) for a in arrays), width, *arrays[0].shape[2:]), padding_index,
                  dtype=arrays[0].dtype)  # fmt: skip
    row = 0
    for a in arrays:
        out[row : row + len(a), : a.shape[1]] = a
        row += len(a)
    return out


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


@pytest.mark.parametrize("every", [None, 1, 3])
@pytest.mark.parametrize("trailing", [(), (4,)])
@pytest.mark.parametrize("seed", range(5))
def test_ragged_batches_give_transformers_padding(seed: int, trailing: tuple[int, ...],
                                                  every: int | None) -> None:  # fmt: skip
    batches = _ragged(seed, 12, trailing)
    expected = _reference(batches)
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
    np.testing.assert_array_equal(result, _reference(batches))


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
