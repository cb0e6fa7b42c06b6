"""Running transformers.Trainer and ours on the same faulty model, data and arguments."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from support.accelerate_state import reset_accelerate

RUNTIME_KEYS = ("runtime", "per_second", "total_flos", "model_preparation_time")


class Data(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int = 16, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x.sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class FaultyNet(torch.nn.Module):
    """A regression net whose loss goes wrong at chosen training forward calls (1-based).

    faults[call] is one of:
      "nan" / "inf"   the loss value becomes NaN / inf, its gradient stays finite
                      (a constant is added: a bad batch that does not poison the weights);
      "poison"        the loss is multiplied by NaN: gradients and then weights become NaN;
      "explode"       the loss is multiplied by 1e30: gradients overflow float32 to inf.
    eval_faults works the same for evaluation forward calls ("nan" / "inf" only).
    """

    def __init__(self, faults: dict[int, str], eval_faults: dict[int, str] | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden = torch.nn.Linear(4, 8)
        self.out = torch.nn.Linear(8, 1)
        self.faults, self.eval_faults = faults, eval_faults or {}
        self.calls = {True: 0, False: 0}

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.out(torch.tanh(self.hidden(x)))
        loss = torch.nn.functional.mse_loss(logits, labels)
        self.calls[self.training] += 1
        fault = (self.faults if self.training else self.eval_faults).get(self.calls[self.training])
        if fault in ("nan", "inf"):
            loss = loss + torch.tensor(float(fault))
        elif fault == "poison":
            loss = loss * float("nan")
        elif fault == "explode":
            loss = loss * 1e30
        return {"loss": loss, "logits": logits}


def base_args(output_dir: str, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "output_dir": output_dir,
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "no",
        "train_sampling_strategy": "sequential",
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "learning_rate": 0.05,
        "logging_steps": 1,
        "num_train_epochs": 2,
        "seed": 7,
    }
    kwargs.update(overrides)
    return kwargs


def run_both(
    model: torch.nn.Module, args: dict[str, Any], **trainer_kwargs: Any
) -> tuple[Any, Any]:
    """(transformers' trainer, ours), each trained on its own deep copy of `model`."""
    import transformers

    from trainer_args import TrainingArguments
    from trainer_loop import Trainer

    trainers = []
    for build_args, build_trainer in (
        (transformers.TrainingArguments, transformers.Trainer),
        (TrainingArguments, Trainer),
    ):
        reset_accelerate()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = build_trainer(
                model=copy.deepcopy(model), args=build_args(**args), **trainer_kwargs
            )
        trainer.train()
        trainers.append(trainer)
    return trainers[0], trainers[1]


def _same_number(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return bool(a == b)


def clean(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if not any(r in k for r in RUNTIME_KEYS)} for e in history]


def assert_same_logs(reference: Any, ours: Any) -> None:
    ref, got = clean(reference.state.log_history), clean(ours.state.log_history)
    assert [list(e) for e in ref] == [list(e) for e in got], (ref, got)
    for ref_entry, our_entry in zip(ref, got):
        for key, value in ref_entry.items():
            assert _same_number(value, our_entry[key]), (key, ref_entry, our_entry)


def assert_same_weights(reference: Any, ours: Any) -> None:
    ref, got = reference.model.state_dict(), ours.model.state_dict()
    assert list(ref) == list(got)
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], rtol=1e-5, atol=1e-7, equal_nan=True)


def losses(trainer: Any, key: str = "loss") -> list[float]:
    return [e[key] for e in trainer.state.log_history if key in e]
