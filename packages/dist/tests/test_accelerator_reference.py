"""build_accelerator configures accelerate as transformers' Trainer does (side by side)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from trainer_args import TrainingArguments
from trainer_dist import build_accelerator, reset_accelerate_state

pytestmark = pytest.mark.reference


class TinyModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor, labels: Any = None) -> dict[str, torch.Tensor]:
        return {"loss": self.linear(x).sum()}


def _summary(accelerator: Any) -> tuple[Any, ...]:
    plugin = dict(accelerator.gradient_state.plugin_kwargs)
    # deliberate difference: we never let accelerate sync on the dataloader's end
    plugin.pop("sync_with_dataloader", None)
    return (
        accelerator.mixed_precision,
        accelerator.dataloader_config,
        plugin,
        accelerator.ddp_handler.to_kwargs(),
        accelerator.distributed_type,
    )


@pytest.mark.parametrize(
    "options",
    [
        {"bf16": True, "data_seed": 3, "gradient_accumulation_steps": 4, "ddp_bucket_cap_mb": 7},
        {
            "accelerator_config": {
                "split_batches": True,
                "even_batches": False,
                "use_seedable_sampler": False,
                "gradient_accumulation_kwargs": {"sync_each_batch": True},
            },
            "ddp_find_unused_parameters": False,
        },
    ],
)
def test_same_accelerate_configuration_as_the_trainer(
    options: dict[str, Any], tmp_path: Any
) -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers import Trainer
    from transformers import TrainingArguments as ReferenceArguments

    reference_args = ReferenceArguments(
        str(tmp_path / "ref"), use_cpu=True, report_to=[], **options
    )
    expected = _summary(Trainer(model=TinyModel(), args=reference_args).accelerator)
    reset_accelerate_state()
    args = TrainingArguments(
        output_dir=str(tmp_path / "ours"), use_cpu=True, report_to="none", **options
    )
    assert _summary(build_accelerator(args, model=TinyModel())) == expected
