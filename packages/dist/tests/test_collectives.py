"""Collective wrappers in a single process (the multi-process checks live in tests/distributed)."""

from __future__ import annotations

import numpy as np
import torch

from trainer_dist.accelerator import build_accelerator
from trainer_dist.collectives import (
    barrier,
    gather,
    gather_for_metrics,
    is_main_process,
    main_process_first,
    make_gather_function,
    nested_numpify,
    pad_across_processes,
    reduce,
)


def test_single_process_collectives_return_their_input(make_args) -> None:  # type: ignore[no-untyped-def]
    accelerator = build_accelerator(make_args())
    nested = {"a": torch.arange(3), "b": (torch.ones(2, 2), [torch.zeros(1)])}
    for result in (
        gather(accelerator, nested),
        gather_for_metrics(accelerator, nested),
        pad_across_processes(accelerator, nested, dim=0),
        make_gather_function(accelerator)(nested),
    ):
        assert torch.equal(result["a"], nested["a"])
        assert torch.equal(result["b"][0], nested["b"][0])
    assert torch.equal(
        reduce(accelerator, torch.tensor([2.0, 4.0]), "mean"), torch.tensor([2.0, 4.0])
    )
    assert torch.equal(reduce(accelerator, torch.tensor([2.0]), "sum"), torch.tensor([2.0]))
    barrier(accelerator)
    with main_process_first(accelerator):
        assert is_main_process(accelerator)
    with main_process_first(accelerator, local=True):
        assert is_main_process(accelerator, local=True)


def test_gather_for_metrics_covers_the_whole_dataset_once(make_args) -> None:  # type: ignore[no-untyped-def]
    accelerator = build_accelerator(make_args())
    loader = accelerator.prepare(torch.utils.data.DataLoader(torch.arange(10.0), batch_size=4))
    gathered = torch.cat([gather_for_metrics(accelerator, batch) for batch in loader])
    assert gathered.tolist() == list(map(float, range(10)))


def test_reduce_rejects_unknown_ops(make_args) -> None:  # type: ignore[no-untyped-def]
    import pytest

    accelerator = build_accelerator(make_args())
    with pytest.raises(ValueError, match="mean' or 'sum"):
        reduce(accelerator, torch.ones(1), "max")  # type: ignore[arg-type]


def test_nested_numpify() -> None:
    out = nested_numpify({"x": (torch.ones(2, dtype=torch.bfloat16), [torch.arange(2)]), "y": 3})
    assert out["x"][0].dtype == np.float32
    assert isinstance(out["x"][1][0], np.ndarray)
    assert out["y"] == 3


def test_shutdown_process_group_is_a_no_op_in_one_process() -> None:
    import torch.distributed as dist

    from trainer_dist.collectives import shutdown_process_group

    shutdown_process_group()
    assert not dist.is_initialized()
