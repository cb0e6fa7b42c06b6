"""bf16 mixed precision on the CPU: the Trainer trains under autocast and stays close to fp32."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainer_args import TrainingArguments, ValidationError
from trainer_loop import Trainer


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
        self.seen_dtypes: set[torch.dtype] = set()

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        hidden = self.net[0](x)
        self.seen_dtypes.add(hidden.dtype)
        pred = self.net[2](self.net[1](hidden)).squeeze(-1).float()
        out = {"logits": pred}
        if labels is not None:
            out["loss"] = nn.functional.mse_loss(pred, labels)
        return out


def _data() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = torch.sin(x.sum(-1))
    return [{"x": x[i], "labels": y[i]} for i in range(64)]


def _train(tmp_path: Path, **precision: bool) -> tuple[Regressor, list[float]]:
    torch.manual_seed(0)
    model = Regressor()
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        max_steps=40,
        per_device_train_batch_size=16,
        learning_rate=1e-2,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
        **precision,
    )
    trainer = Trainer(model=model, args=args, train_dataset=_data())
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return model, losses


def test_bf16_trains_under_autocast_and_matches_fp32_loosely(tmp_path: Path) -> None:
    fp32_model, fp32_losses = _train(tmp_path / "fp32")
    bf16_model, bf16_losses = _train(tmp_path / "bf16", bf16=True)
    assert fp32_model.seen_dtypes == {torch.float32}
    assert torch.bfloat16 in bf16_model.seen_dtypes
    assert bf16_losses[-1] < bf16_losses[0]
    assert bf16_losses == pytest.approx(fp32_losses, rel=5e-2, abs=5e-3)
    for ours, reference in zip(bf16_model.parameters(), fp32_model.parameters()):
        assert ours.dtype == torch.float32  # master weights stay fp32
        torch.testing.assert_close(ours, reference, rtol=0.1, atol=2e-2)


def test_fp16_on_cpu_is_a_clear_error(tmp_path: Path) -> None:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, fp16=True, report_to="none")
    with pytest.raises(ValidationError, match="fp16"):
        Trainer(model=Regressor(), args=args, train_dataset=_data())
