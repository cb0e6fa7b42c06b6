"""Ragged per-token results (lengths differ between batches), byte for byte as transformers.

predict() keeps every batch's per-token output and pads dim 1 to the longest with -100. How
the batches come decides which way the result is written: in random order the longest batch
comes early (the result is widened once, near the start), sorted by length every batch is
longer than the one before (the batches are kept and written once at the end), a dataset
shorter than what the loader yields overflows the preallocated rows. Each case is checked
against transformers itself: `transformers.Trainer.predict` on the same model and data, and
its `EvalLoopContainer` (the accumulator its evaluation loop uses) fed the same batches. The
last tests break the writer on purpose and check that these comparisons catch it.
"""

from __future__ import annotations

import copy
import random
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
from support.accelerate_state import reset_accelerate  # noqa: E402
from trainer_support import pad_collator  # noqa: E402
from transformers.trainer_pt_utils import EvalLoopContainer  # noqa: E402

from trainer_loop import eval_accumulation as evaluation  # noqa: E402
from trainer_loop.eval_accumulation import EvalAccumulator  # noqa: E402

pytestmark = pytest.mark.reference

VOCAB = 13


# ---- the comparison --------------------------------------------------------------------------


def assert_same_bytes(ours: Any, ref: Any, where: str = "result") -> None:
    """Same nesting, and every array of the same dtype, shape and bytes."""
    if ref is None:
        assert ours is None, where
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref), where
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same_bytes(a, b, f"{where}[{i}]")
    elif isinstance(ref, dict):
        assert isinstance(ours, dict) and list(ours) == list(ref), where
        for key in ref:
            assert_same_bytes(ours[key], ref[key], f"{where}[{key!r}]")
    else:
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours)}"
        assert (ours.dtype, ours.shape) == (ref.dtype, ref.shape), where
        assert ours.tobytes() == ref.tobytes(), f"{where}: values differ"


class PoisonedNumpy:
    """numpy, except that `empty` fills what it returns with a value no result holds.

    An uninitialised array often reuses memory that held the same values a moment ago, which
    can hide a value the writer forgot to write; poisoned, the forgotten value shows.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def empty(shape: Any, dtype: Any = float) -> np.ndarray:
        out = np.empty(shape, dtype)
        out.fill(False if out.dtype == np.bool_ else 77)  # padding -100 is True as a bool
        return out


@pytest.fixture
def poisoned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation, "np", PoisonedNumpy())


# ---- data ------------------------------------------------------------------------------------


def ordered_lengths(order: str, n: int, seed: int, low: int = 2, high: int = 16) -> list[int]:
    """`n` lengths in `low..high`: shuffled ("random"), ascending ("sorted") or descending."""
    rng = random.Random(seed)
    lengths = [rng.randint(low, high) for _ in range(n)]
    if order == "sorted":
        lengths.sort()
    elif order == "descending":
        lengths.sort(reverse=True)
    return lengths


def token_batches(
    lengths: list[int], batch: int, trailing: tuple[int, ...], dtype: torch.dtype, seed: int
) -> list[torch.Tensor]:
    """Per-batch outputs as a collator padding to the batch's longest would give them."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(lengths), batch):
        rows = lengths[start : start + batch]
        values = torch.randn(len(rows), max(rows), *trailing, generator=gen) * 50
        out.append(values.to(dtype))
    return out


def accumulate_both(
    batches: list[Any], every: int | None, do_concat: bool, rows: int | None
) -> tuple[Any, Any]:
    """The same batches through transformers' `EvalLoopContainer` and through ours."""
    ref = EvalLoopContainer(do_concat, padding_index=-100)
    ours = EvalAccumulator(do_concat, padding_index=-100, rows=rows)
    for step, item in enumerate(batches):
        ref.add(item)
        ours.add(item)
        if every is not None and (step + 1) % every == 0:
            ref.to_cpu_and_numpy()
            ours.to_cpu_and_numpy()
    return ours.get_arrays(), ref.get_arrays()


def row_hints(batches: list[Any]) -> Iterator[int | None]:
    """The row counts the loop may be told: unknown, exact, short (more rows come), long."""
    exact = sum(len(b[0] if isinstance(b, (list, tuple)) else b) for b in batches)
    yield from (None, exact, exact - 5, exact + 7, 1)


# ---- the accumulator against EvalLoopContainer -----------------------------------------------


@pytest.mark.parametrize("order", ["random", "sorted", "descending"])
@pytest.mark.parametrize("every", [None, 1, 3])
@pytest.mark.parametrize("do_concat", [True, False])
# Seed 3 widens early (its second batch is the longest), seeds 1 and 4 late (their longest
# batch comes after the first eighth of the rows).
@pytest.mark.parametrize("seed", [1, 3, 4])
def test_ragged_logits_as_transformers_accumulates_them(
    order: str, every: int | None, do_concat: bool, seed: int, poisoned: None
) -> None:
    lengths = ordered_lengths(order, 90, seed)
    batches = token_batches(lengths, 4, (5,), torch.float32, seed)
    for rows in row_hints(batches):
        ours, ref = accumulate_both(batches, every, do_concat, rows)
        assert_same_bytes(ours, ref, f"rows={rows}")


@pytest.mark.parametrize("dtype", [torch.int64, torch.float16, torch.bfloat16, torch.bool], ids=str)
@pytest.mark.parametrize("order", ["random", "sorted"])
def test_ragged_ids_of_other_dtypes(dtype: torch.dtype, order: str, poisoned: None) -> None:
    # Token ids (argmax), half-precision logits, bfloat16 (numpy has none: float32) and masks.
    lengths = ordered_lengths(order, 60, 11)
    batches = token_batches(lengths, 3, (), dtype, 11)
    for every in (None, 2):
        for rows in row_hints(batches):
            ours, ref = accumulate_both(batches, every, True, rows)
            assert_same_bytes(ours, ref, f"every={every} rows={rows}")


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_nested_outputs_losses_and_labels(order: str, poisoned: None) -> None:
    lengths = ordered_lengths(order, 40, 3)
    logits = token_batches(lengths, 4, (3,), torch.float32, 3)
    labels = token_batches(lengths, 4, (), torch.int64, 4)
    losses = [torch.rand(len(b)) for b in logits]  # one value per sample: 1-D
    nested = [(lg, {"ids": lb, "loss": ls}) for lg, lb, ls in zip(logits, labels, losses)]
    for series in (nested, losses, labels):
        for every in (None, 1, 4):
            for rows in row_hints(series):
                ours, ref = accumulate_both(series, every, True, rows)
                assert_same_bytes(ours, ref, f"every={every} rows={rows}")


def test_first_batch_longest_then_shorter(poisoned: None) -> None:
    # Descending lengths never widen: every later row is padded on its own.
    batches = [torch.ones(2, 9), torch.ones(3, 4), torch.ones(1, 1)]
    ours, ref = accumulate_both(batches, 1, True, 6)
    assert_same_bytes(ours, ref)
    assert (ours[2:5, 4:] == -100).all() and (ours[5, 1:] == -100).all()


# ---- predict() side by side ------------------------------------------------------------------


class TokenModel(nn.Module):
    """Per-token logits (and, with `nested`, per-token hidden states next to them)."""

    main_input_name = "input_ids"

    def __init__(self, nested: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(VOCAB, 4)
        self.head = nn.Linear(4, VOCAB)
        self.nested = nested

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, Any]:
        hidden = self.embed(input_ids)
        logits = self.head(hidden)
        out: dict[str, Any] = {"logits": logits}
        if self.nested:
            out["hidden"] = (hidden, hidden[..., 0])
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=-100
            )
        return {"loss": out.pop("loss"), **out} if "loss" in out else out


def token_dataset(order: str, n: int, seed: int) -> list[dict[str, list[int]]]:
    gen = torch.Generator().manual_seed(seed)
    items = []
    for length in ordered_lengths(order, n, seed, low=1, high=12):
        ids = torch.randint(1, VOCAB, (length,), generator=gen)
        labels = ids.clone()
        labels[0] = -100
        items.append({"input_ids": ids.tolist(), "labels": labels.tolist()})
    return items


def predict_with(
    module: Any, model: nn.Module, data: Any, out: str, **args: Any
) -> tuple[Any, Any, Any]:
    """predictions, label_ids and the inputs compute_metrics saw, from `module.Trainer`."""
    seen: dict[str, Any] = {}

    def record(prediction: Any) -> dict[str, float]:
        seen["inputs"] = prediction.inputs
        return {}

    reset_accelerate()
    arguments = module.TrainingArguments(
        output_dir=out, use_cpu=True, report_to="none", disable_tqdm=True,
        per_device_eval_batch_size=4, include_for_metrics=["inputs"], **args,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = module.Trainer(
            model=copy.deepcopy(model), args=arguments, data_collator=pad_collator,
            compute_metrics=record,
        )  # fmt: skip
        result = trainer.predict(data)
    reset_accelerate()
    return result.predictions, result.label_ids, seen.get("inputs")


def predict_both(tmp_path: Any, data: Any, nested: bool, **args: Any) -> None:
    import trainer

    model = TokenModel(nested)
    ref = predict_with(transformers, model, data, str(tmp_path / "ref"), **args)
    ours = predict_with(trainer, model, data, str(tmp_path / "ours"), **args)
    for name, a, b in zip(("predictions", "label_ids", "inputs"), ours, ref):
        assert_same_bytes(a, b, name)


@pytest.mark.parametrize("order", ["random", "sorted"])
@pytest.mark.parametrize("accumulation", [None, 1, 3])
@pytest.mark.parametrize("do_concat", [True, False])
def test_predict_ragged_as_transformers(
    tmp_path: Any, order: str, accumulation: int | None, do_concat: bool, poisoned: None
) -> None:
    data = token_dataset(order, 70, 5)
    predict_both(
        tmp_path, data, nested=False,
        eval_accumulation_steps=accumulation, eval_do_concat_batches=do_concat,
    )  # fmt: skip


@pytest.mark.parametrize("order", ["random", "sorted"])
def test_predict_nested_outputs_as_transformers(tmp_path: Any, order: str, poisoned: None) -> None:
    predict_both(tmp_path, token_dataset(order, 30, 6), nested=True, eval_accumulation_steps=2)


class Unsized(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """No length: the result cannot be preallocated."""

    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[dict[str, list[int]]]:
        return iter(self.items)


@pytest.mark.parametrize("accumulation", [None, 2])
def test_predict_unsized_dataset_as_transformers(
    tmp_path: Any, accumulation: int | None, poisoned: None
) -> None:
    data = Unsized(token_dataset("random", 30, 7))
    predict_both(tmp_path, data, nested=False, eval_accumulation_steps=accumulation)


# ---- a broken writer must fail these comparisons ---------------------------------------------


class NoTailPadding(evaluation._RowWriter):
    """Leaves the columns past a shorter batch's end as np.empty left them."""

    def _put(self, target: np.ndarray, start: int, chunk: np.ndarray) -> None:
        if target.ndim == 1:
            target[start : start + len(chunk)] = chunk
        else:
            target[start : start + len(chunk), : chunk.shape[1]] = chunk


class PadsWithZero(evaluation._RowWriter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.padding_index = 0


class WidensWithoutCopying(evaluation._RowWriter):
    """Forgets the rows written before a longer batch came."""

    def _widen(self, width: int) -> np.ndarray:
        old = self._buffer
        assert old is not None
        self._buffer = np.full((old.shape[0], width, *old.shape[2:]), 0, old.dtype)
        return self._buffer


class KeepsLateBatchesReversed(evaluation._RowWriter):
    """Writes the batches kept for the end (longer and longer ones) in reverse order."""

    def result(self) -> np.ndarray:
        self._late.reverse()
        return super().result()


BROKEN: dict[str, type[evaluation._RowWriter]] = {
    "no tail padding": NoTailPadding,
    "pads with 0": PadsWithZero,
    "widening loses rows": WidensWithoutCopying,
    "late batches out of order": KeepsLateBatchesReversed,
}


def scenario(order: str, every: int | None, seed: int) -> Callable[[], None]:
    def check() -> None:
        lengths = ordered_lengths(order, 90, seed)
        batches = token_batches(lengths, 4, (5,), torch.float32, seed)
        ours, ref = accumulate_both(batches, every, True, len(lengths))
        assert_same_bytes(ours, ref)

    return check


@pytest.mark.parametrize(
    "broken, order, every, seed",
    [
        ("no tail padding", "random", 1, 1),
        ("pads with 0", "descending", None, 1),
        ("widening loses rows", "random", 1, 3),
        ("late batches out of order", "sorted", 1, 1),
        ("late batches out of order", "random", 1, 4),
    ],
)
def test_a_broken_writer_is_caught(
    broken: str,
    order: str,
    every: int | None,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
    poisoned: None,
) -> None:
    check = scenario(order, every, seed)
    check()  # the real writer passes ...
    monkeypatch.setattr(evaluation, "_RowWriter", BROKEN[broken])
    with pytest.raises(AssertionError):  # ... the broken one does not
        check()


def test_a_broken_writer_is_caught_through_predict(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = token_dataset("random", 40, 8)
    monkeypatch.setattr(evaluation, "_RowWriter", PadsWithZero)
    with pytest.raises(AssertionError):
        predict_both(tmp_path, data, nested=False, eval_accumulation_steps=2)
