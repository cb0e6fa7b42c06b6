"""The containers that stream evaluation/prediction results to the CPU (the loop is the Trainer's).

Results are collected as lists and padded/concatenated once (device chunks every
`eval_accumulation_steps`, numpy at the end) instead of re-concatenating the growing
result at every batch; the padding rule is transformers' `nested_concat` (dim 1, -100),
so the arrays are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from trainer_loop.data.batches import rebuild_mapping

logger = logging.getLogger(__name__)

__all__ = [
    "EvalAccumulator",
    "nested_concat_all",
    "nested_detach",
    "nested_numpify",
]


def nested_detach(tensors: Any) -> Any:
    """Detach every tensor of a nested list/tuple/dict."""
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_detach(t) for t in tensors)
    if isinstance(tensors, Mapping):
        return rebuild_mapping(tensors, {k: nested_detach(t) for k, t in tensors.items()})
    return tensors.detach() if isinstance(tensors, torch.Tensor) else tensors


def nested_numpify(tensors: Any) -> Any:
    """Move a nested structure of tensors to CPU numpy arrays (bfloat16 becomes float32)."""
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_numpify(t) for t in tensors)
    if isinstance(tensors, Mapping):
        return rebuild_mapping(tensors, {k: nested_numpify(t) for k, t in tensors.items()})
    if isinstance(tensors, np.ndarray):
        return tensors
    t = tensors.cpu()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.numpy()


def _pad_concat(items: list[Any], padding_index: int) -> Any:
    """Concatenate tensors/arrays on dim 0, padding dim 1 with `padding_index` when it differs.

    One allocation for the whole list; the result equals folding transformers'
    `torch_pad_and_concatenate`/`numpy_pad_and_concatenate` over the list.
    """
    is_torch = isinstance(items[0], torch.Tensor)
    items = [torch.atleast_1d(t) if is_torch else np.atleast_1d(t) for t in items]
    first = items[0]
    if len(items) == 1:
        return first
    if first.ndim == 1 or all(t.shape[1] == first.shape[1] for t in items):
        return torch.cat(items, dim=0) if is_torch else np.concatenate(items, axis=0)
    rows = sum(t.shape[0] for t in items)
    width = max(t.shape[1] for t in items)
    shape = (rows, width, *first.shape[2:])
    result = (
        first.new_full(shape, padding_index)
        if is_torch
        else np.full_like(first, padding_index, shape=shape)
    )
    offset = 0
    for t in items:
        result[offset : offset + t.shape[0], : t.shape[1]] = t
        offset += t.shape[0]
    return result


def _concat_releasing(parts: list[Any], padding_index: int) -> Any:
    """`_pad_concat` of CPU arrays that drops each part from `parts` once it is copied.

    `parts` holds the only other reference to each part, and the result's pages are first
    written (padding included) as the parts are copied: the peak stays near the result plus
    one part instead of the result plus every part (twice the predictions with full logits).
    """
    first = parts[0]
    if len(parts) == 1 or not all(
        isinstance(p, np.ndarray)
        and p.ndim == first.ndim >= 1
        and p.dtype == first.dtype
        and p.shape[2:] == first.shape[2:]
        for p in parts
    ):
        return _pad_concat(parts, padding_index)
    rows = sum(p.shape[0] for p in parts)
    width = max(p.shape[1] for p in parts) if first.ndim > 1 else 0
    shape = (rows,) if first.ndim == 1 else (rows, width, *first.shape[2:])
    result = np.empty(shape, first.dtype)
    offset = 0
    for i, part in enumerate(parts):
        parts[i] = None
        end = offset + part.shape[0]
        if part.ndim == 1:
            result[offset:end] = part
        else:
            result[offset:end, : part.shape[1]] = part
            result[offset:end, part.shape[1] :] = padding_index
        offset = end
        del part
    return result


def nested_concat_all(items: Sequence[Any], padding_index: int = -100) -> Any:
    """Concatenate a list of same-structured nested tensors/arrays, padding dim 1 where needed."""
    first = items[0]
    if isinstance(first, (list, tuple)):
        return type(first)(
            nested_concat_all([it[i] for it in items], padding_index) for i in range(len(first))
        )
    if isinstance(first, Mapping):
        return rebuild_mapping(
            first, {k: nested_concat_all([it[k] for it in items], padding_index) for k in first}
        )
    if isinstance(first, (torch.Tensor, np.ndarray)):
        return _pad_concat(list(items), padding_index)
    raise TypeError(f"Unsupported type for concatenation: got {type(first)}")


class _RowWriter:
    """One plain array result, written batch by batch into an array sized from the dataset.

    The buffer has one row per expected example and the widest width seen so far. It is
    `np.empty`: each written row pads only its own tail, so no value is written and then
    overwritten, and the pages of a dropped last batch are never touched. Widening (a batch
    longer than any before) re-copies the rows already written, so it is allowed only while the
    rows re-copied in all stay within an eighth of the expected rows: in random order the
    longest batch comes early and this costs little. After that (lengths that keep growing, as
    in data sorted by length), or past the expected row count, the batches are kept as they
    are and written once, at the end, into an array of exactly the final shape. Either way each
    value is copied about once; the peak is the result plus the batches not yet written.
    """

    def __init__(
        self, like: np.ndarray, rows: int, padding_index: int, width: int | None = None
    ) -> None:
        """An empty result for batches shaped like `like`, `rows` expected, at least `width` wide."""
        self.padding_index = padding_index
        self._dtype = like.dtype
        self._ndim = like.ndim
        self._trailing = like.shape[2:]
        capacity = max(rows, like.shape[0])
        shape: tuple[int, ...] = (capacity,)
        if like.ndim > 1:
            shape = (capacity, max(like.shape[1], width or 0), *self._trailing)
        self._buffer: np.ndarray | None = np.empty(shape, like.dtype)
        self._filled = 0
        # Rows that widening may still re-copy: beyond this, wider batches are kept instead.
        self._recopy_budget = capacity // 8
        self._late: list[Any] = []  # batches kept for the final write, in order
        self._result: np.ndarray | None = None

    def fits(self, chunk: Any) -> bool:
        """Whether `chunk` can join this result (same dtype, rank and trailing dimensions)."""
        return (
            self._result is None
            and isinstance(chunk, np.ndarray)
            and chunk.dtype == self._dtype
            and chunk.ndim == self._ndim
            and chunk.shape[2:] == self._trailing
        )

    def write(self, chunk: np.ndarray) -> None:
        self.write_many([chunk])

    def write_many(self, chunks: list[Any]) -> None:
        """Append `chunks` (each `fits`); drops each from the list once it is written.

        The caller's list is then the only other reference, so a batch's memory is freed as
        soon as it is copied instead of when the whole group is done.
        """
        buffer = self._buffer
        assert buffer is not None, "write after result()"
        if not chunks:
            return
        rows = sum(c.shape[0] for c in chunks)
        fits_rows = not self._late and self._filled + rows <= buffer.shape[0]
        if fits_rows and buffer.ndim > 1:
            width = max(c.shape[1] for c in chunks)
            if width > buffer.shape[1]:
                if self._filled <= self._recopy_budget:
                    self._recopy_budget -= self._filled
                    buffer = self._widen(width)
                else:
                    fits_rows = False
        if not fits_rows:
            self._late.extend(chunks)
            return
        for i, chunk in enumerate(chunks):
            chunks[i] = None
            self._put(buffer, self._filled, chunk)
            self._filled += chunk.shape[0]

    def _put(self, target: np.ndarray, start: int, chunk: np.ndarray) -> None:
        end = start + chunk.shape[0]
        if target.ndim == 1:
            target[start:end] = chunk
            return
        target[start:end, : chunk.shape[1]] = chunk
        if chunk.shape[1] < target.shape[1]:
            target[start:end, chunk.shape[1] :] = self.padding_index

    def _widen(self, width: int) -> np.ndarray:
        old = self._buffer
        assert old is not None
        wider = np.empty((old.shape[0], width, *self._trailing), old.dtype)
        self._put(wider, 0, old[: self._filled])
        self._buffer = wider
        return wider

    @property
    def array(self) -> np.ndarray:
        """The finished result (built on first access)."""
        return self.result()

    def result(self) -> np.ndarray:
        if self._result is not None:
            return self._result
        buffer = self._buffer
        assert buffer is not None
        self._buffer = None
        late = self._late
        if not late:
            # Fewer rows than expected (a dropped last batch): a view, no copy of the result.
            result = buffer if self._filled == buffer.shape[0] else buffer[: self._filled]
        else:
            rows = self._filled + sum(c.shape[0] for c in late if c is not None)
            shape: tuple[int, ...] = (rows,)
            if buffer.ndim > 1:
                width = max(buffer.shape[1], *(c.shape[1] for c in late if c is not None))
                shape = (rows, width, *self._trailing)
            result = np.empty(shape, self._dtype)
            self._put(result, 0, buffer[: self._filled])
            start = self._filled
            del buffer  # the last reference: its memory goes before the kept batches are copied
            for i, chunk in enumerate(late):
                late[i] = None  # each kept batch is freed once copied
                self._put(result, start, chunk)
                start += chunk.shape[0]
            self._late = []
        self._result = result
        return result


class EvalAccumulator:
    """Collects per-batch results; moves them to CPU in chunks; concatenates once at the end.

    With `rows` (the dataset's length, when known) a plain array result is written into one
    array allocated from it (`_RowWriter`) instead of being concatenated from the chunks at the
    end. With
    `do_concat=False` the result is the list of per-batch (numpy) results, as transformers
    gives with `eval_do_concat_batches=False`.
    """

    def __init__(
        self, do_concat: bool = True, padding_index: int = -100, rows: int | None = None
    ) -> None:
        self.do_concat = do_concat
        self.padding_index = padding_index
        self._rows = rows if do_concat and rows else None
        self._pending: list[Any] = []
        self._arrays: list[Any] = []
        self._writer: _RowWriter | None = None

    def add(self, tensors: Any) -> None:
        self._pending.append(tensors)

    def to_cpu_and_numpy(self) -> None:
        """Move what is pending on the device to the CPU (one transfer per chunk when concatenating)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        if not self.do_concat:
            self._arrays.extend(nested_numpify(p) for p in pending)
            return
        if all(isinstance(p, torch.Tensor) and p.device.type == "cpu" for p in pending):
            # Already on the CPU: there is no transfer to batch up, so each batch (a numpy view
            # of its tensor, no copy) goes on as it is and is copied once, into the result.
            parts = [nested_numpify(p) for p in pending]
            del pending
            self._store(parts)
            return
        # One array per chunk: one transfer, few large blocks, each released once stored.
        self._store([nested_numpify(nested_concat_all(pending, self.padding_index))])

    def _store(self, parts: list[Any]) -> None:
        """Hand `parts` (CPU results, in order) to the writer, or keep them to concatenate."""
        if self._writer is None and not self._arrays and self._rows is not None:
            self._writer = self._new_writer(parts, self._rows)
        writer = self._writer
        if writer is not None and all(writer.fits(p) for p in parts):
            # The writer drops each part from `parts` once it is copied (frees it early).
            writer.write_many(parts)
            return
        if writer is not None:  # a part of another shape or type: back to concatenating
            self._arrays.append(writer.result())
            self._writer = None
        self._arrays.extend(parts)

    def _new_writer(self, parts: list[Any], rows: int) -> _RowWriter | None:
        """A writer for `parts` when all are plain arrays it can take, as wide as the widest."""
        like = parts[0]
        if not isinstance(like, np.ndarray) or like.ndim == 0:
            return None
        width = (
            max(p.shape[1] for p in parts if isinstance(p, np.ndarray) and p.ndim > 1)
            if like.ndim > 1
            else None
        )
        writer = _RowWriter(like, rows, self.padding_index, width)
        return writer if all(writer.fits(p) for p in parts) else None

    def get_arrays(self) -> Any:
        self.to_cpu_and_numpy()
        if self._writer is not None and not self._arrays:
            return self._writer.result()
        if self._writer is not None:
            self._arrays.insert(0, self._writer.result())
            self._writer = None
        if not self._arrays:
            return None
        if not self.do_concat:
            return self._arrays
        arrays, self._arrays = self._arrays, []
        if all(isinstance(a, np.ndarray) for a in arrays):
            result = _concat_releasing(arrays, self.padding_index)
        else:
            result = nested_concat_all(arrays, self.padding_index)
        self._arrays = [result]
        return result
