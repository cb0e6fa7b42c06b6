"""Throughput in the training logs: `throughput_*` keys reach the callbacks, not `log_history`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainer_args import TrainingArguments
from trainer_loop import Trainer
from trainer_loop.reporting import throughput as throughput_mod
from trainer_loop.reporting.training_throughput import count_flops_parameters

SEQ_LEN = 6
HEAD_PARAMS = 8 * 16 + 16  # the Linear(8, 16) head; the embedding costs no FLOPs per token


class TinyLM(nn.Module):
    """Fed `input_ids`: an embedding and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(16, 8)
        self.head = nn.Linear(8, 16)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.head(self.embed(input_ids))
        return {"loss": nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())}


class CountedLM(TinyLM):
    """TinyLM declaring 10**12 parameters: 6e12 FLOPs per token, TFLOP/s = 6 x tokens/s."""

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        return 10**12


class Regressor(nn.Module):
    """Fed `x` (no tokens): samples/s only."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)}


def _token_data() -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 16, (16, SEQ_LEN), generator=gen)
    return [{"input_ids": row, "labels": row} for row in ids]


def _regression_data() -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(2, generator=gen), "labels": torch.tensor(1.0)} for _ in range(16)]


def _train(tmp_path: Path, model: nn.Module, data: Any, **extra: Any) -> Trainer:
    torch.manual_seed(0)
    kwargs: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "max_steps": 4,
        "logging_steps": 2,
        "per_device_train_batch_size": 4,
        "report_to": ["jsonl"],
        "save_strategy": "no",
        "disable_tqdm": True,
        **extra,
    }
    trainer = Trainer(
        model=model, args=TrainingArguments(**kwargs), train_dataset=data, eval_dataset=data
    )
    trainer.train()
    return trainer


@pytest.fixture
def forward_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[nn.Module], nn.Module]:
    """`time.perf_counter` stands still, except that every forward pass of a model passed to
    the returned function takes exactly one second: rates over a log interval are exact."""
    now = [0.0]

    def tick(module: nn.Module, inputs: Any) -> None:
        now[0] += 1.0

    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    def attach(model: nn.Module) -> nn.Module:
        model.register_forward_pre_hook(tick)
        return model

    return attach


def _jsonl(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "log_history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _throughput(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k.startswith("throughput_")}


def _no_throughput_anywhere(trainer: Trainer) -> None:
    for entry in trainer.state.log_history:
        assert not [k for k in entry if k.startswith("throughput_")]


@pytest.mark.parametrize("tokens_seen", ["no", "all"])
def test_token_model_logs_samples_tokens_and_tflops(
    tmp_path: Path, tokens_seen: str, forward_clock: Callable[[nn.Module], nn.Module]
) -> None:
    trainer = _train(
        tmp_path,
        forward_clock(CountedLM()),
        _token_data(),
        include_num_input_tokens_seen=tokens_seen,
        save_strategy="steps",
        save_steps=4,
    )
    train_records = [r for r in _jsonl(tmp_path) if "loss" in r]
    assert [r["step"] for r in train_records] == [2, 4]
    # Each interval: 2 steps of one forward pass (2 s), 2 x 4 samples of SEQ_LEN tokens (either
    # token count), 6e12 FLOPs per token; no MFU: no known peak on CPU.
    expected = {
        "throughput_samples_per_second": 8 / 2,
        "throughput_tokens_per_second": 8 * SEQ_LEN / 2,
        "throughput_tflops": 6e12 * 8 * SEQ_LEN / 2 / 1e12,
    }
    assert [_throughput(r) for r in train_records] == [expected, expected]
    # The history (and trainer_state.json) stays as transformers writes it.
    _no_throughput_anywhere(trainer)
    history_train = [e for e in trainer.state.log_history if "loss" in e]
    expected = {"loss", "grad_norm", "learning_rate", "epoch", "step"}
    if tokens_seen == "all":
        expected |= {"num_input_tokens_seen", "train_runtime", "train_tokens_per_second"}
    assert all(set(e) == expected for e in history_train)
    saved = (tmp_path / "checkpoint-4" / "trainer_state.json").read_text()
    assert "throughput_" not in saved
    saved_history = json.loads(saved)["log_history"]
    assert saved_history == trainer.state.log_history[:-1]  # all but the final summary
    # Only training logs carry them: not the final summary.
    assert not [k for k in _jsonl(tmp_path)[-1] if k.startswith("throughput_")]


def test_mfu_only_with_a_known_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A peak of 1 FLOP/s makes MFU the achieved FLOP/s itself (not rounded away on CPU).
    monkeypatch.setattr(throughput_mod, "peak_flops_per_second", lambda device=None: 1.0)
    _train(tmp_path, TinyLM(), _token_data())
    for record in (r for r in _jsonl(tmp_path) if "loss" in r):
        tokens_per_second = record["throughput_tokens_per_second"]
        # 6 x the head's parameters per token (the embedding is excluded).
        assert record["throughput_mfu"] == pytest.approx(
            6 * HEAD_PARAMS * tokens_per_second, rel=1e-3
        )


def test_samples_only_without_tokens_and_no_eval_throughput(
    tmp_path: Path, forward_clock: Callable[[nn.Module], nn.Module]
) -> None:
    trainer = _train(
        tmp_path,
        forward_clock(Regressor()),
        _regression_data(),
        eval_strategy="steps",
        eval_steps=2,
    )
    records = _jsonl(tmp_path)
    train_records = [r for r in records if "loss" in r]
    assert len(train_records) == 2
    for record in train_records:
        # 2 x 4 samples in 2 forward seconds: the evaluation's forward passes (after the log at
        # step 2, inside the second interval) are not training time.
        assert _throughput(record) == {"throughput_samples_per_second": 8 / 2}
    eval_records = [r for r in records if "eval_loss" in r]
    assert len(eval_records) == 2
    assert not [k for r in eval_records for k in r if k.startswith("throughput_")]
    _no_throughput_anywhere(trainer)


@pytest.mark.parametrize("disable_tqdm", [True, False])
def test_printed_logs_show_throughput(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], disable_tqdm: bool
) -> None:
    _train(tmp_path, TinyLM(), _token_data(), report_to="none", disable_tqdm=disable_tqdm)
    out = capsys.readouterr().out
    assert out.count("'throughput_samples_per_second'") == 2
    assert out.count("'throughput_tokens_per_second'") == 2


def test_flops_parameters_prefer_the_models_own_count() -> None:
    class Counted(TinyLM):
        def num_parameters(self, exclude_embeddings: bool = False) -> int:
            return 1234 if exclude_embeddings else 0

    assert count_flops_parameters(TinyLM()) == HEAD_PARAMS
    assert count_flops_parameters(Counted()) == 1234
    frozen = TinyLM()
    frozen.head.bias.requires_grad_(False)
    assert count_flops_parameters(frozen) == HEAD_PARAMS - 16
