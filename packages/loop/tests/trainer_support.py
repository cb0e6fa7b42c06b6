"""Shared helpers for the Trainer tests: tiny models, datasets, and side-by-side runs.

Imported by the test modules as `trainer_support` (conftest.py puts this folder on sys.path).
transformers is the reference here and only here (tests), never in package code.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from support.accelerate_state import reset_accelerate
from torch import nn

RUNTIME_KEYS = ("_runtime", "_per_second", "model_preparation_time")


# ---- data ----------------------------------------------------------------------------------------


class RegressionDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """`y = x·w + b + noise`, examples as dicts with `x` and `labels`."""

    def __init__(self, n: int = 16, dim: int = 4, seed: int = 0, with_index: bool = False) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, dim, generator=g)
        w = torch.arange(1, dim + 1, dtype=torch.float32)
        self.y = (self.x @ w).unsqueeze(1) + 0.5 + 0.1 * torch.randn(n, 1, generator=g)
        self.with_index = with_index

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {"x": self.x[i], "labels": self.y[i]}
        if self.with_index:
            item["idx"] = i
        return item


class RaggedTokenDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Token sequences of varying length; labels are the ids with some positions at -100."""

    def __init__(
        self, n: int = 10, vocab: int = 11, seed: int = 0, min_len: int = 2, max_len: int = 7
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            length = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
            ids = torch.randint(1, vocab, (length,), generator=g)
            labels = ids.clone()
            labels[0] = -100
            self.items.append({"input_ids": ids.tolist(), "labels": labels.tolist()})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def pad_collator(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Right-pad `input_ids` (0), `attention_mask` and `labels` (-100) to the batch's longest row."""
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros(len(features), width, dtype=torch.long)
    mask = torch.zeros(len(features), width, dtype=torch.long)
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(f["labels"])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ---- models --------------------------------------------------------------------------------------


class RegressionModel(nn.Module):
    """A small MLP returning a dict with `loss` (MSE) when labels are given, and `logits`."""

    def __init__(self, dim: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        logits = self.head(torch.tanh(self.norm(self.linear(x))))
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.mse_loss(logits, labels), "logits": logits}


class TupleRegressionModel(RegressionModel):
    """Same model, tuple outputs `(loss, logits)`."""

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> Any:  # type: ignore[override]
        out = super().forward(x, labels)
        return (out["loss"], out["logits"]) if labels is not None else (out["logits"],)


class TinyTokenModel(nn.Module):
    """Embedding + linear head over a vocabulary; per-token logits (variable sequence length)."""

    main_input_name = "input_ids"

    def __init__(self, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        logits = self.head(self.embed(input_ids))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(
                logits.flatten(0, 1), labels.flatten(), ignore_index=-100
            )
        return out


def tiny_gpt2(seed: int = 0) -> nn.Module:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=32,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


# ---- running both trainers -------------------------------------------------------------------------


def base_kwargs(tmp_path: Any, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "use_cpu": True,
        "report_to": "none",
        "disable_tqdm": True,
        "save_strategy": "no",
        "train_sampling_strategy": "sequential",
        "per_device_train_batch_size": 4,
        "per_device_eval_batch_size": 4,
        "learning_rate": 0.05,
        "logging_steps": 1,
        "seed": 7,
    }
    kwargs.update(overrides)
    return kwargs


class RecordingCallback:
    """Records the name of every event with the step (a duck-typed callback for both trainers)."""

    EVENTS = (
        "on_init_end", "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_step_begin",
        "on_pre_optimizer_step", "on_optimizer_step", "on_substep_end", "on_step_end", "on_evaluate",
        "on_predict", "on_save", "on_log", "on_prediction_step",
    )  # fmt: skip

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        for name in self.EVENTS:
            setattr(self, name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.events.append((name, state.global_step))

        return record


def make_callback(base: type) -> Any:
    """A RecordingCallback that is also an instance of the given TrainerCallback class."""
    cls = type("Recording" + base.__module__.split(".")[0].title(), (RecordingCallback, base), {})
    return cls()


def build_reference(model: nn.Module, kwargs: dict[str, Any], **trainer_kwargs: Any) -> Any:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    import transformers

    reset_accelerate()
    args = transformers.TrainingArguments(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return transformers.Trainer(model=model, args=args, **trainer_kwargs)


def build_ours(model: nn.Module, kwargs: dict[str, Any], **trainer_kwargs: Any) -> Any:
    from trainer_args import TrainingArguments
    from trainer_loop import Trainer

    reset_accelerate()
    args = TrainingArguments(**kwargs)
    return Trainer(model=model, args=args, **trainer_kwargs)


def run_both(
    model: nn.Module,
    kwargs: dict[str, Any],
    record: bool = False,
    train_kwargs: dict[str, Any] | None = None,
    **trainer_kwargs: Any,
) -> tuple[Any, Any, Any, Any]:
    """Train a deep copy of `model` with transformers' Trainer and with ours; returns both and outputs."""
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    import transformers

    from trainer_loop import TrainerCallback

    ref_kwargs = dict(trainer_kwargs)
    our_kwargs = dict(trainer_kwargs)
    if record:
        ref_kwargs["callbacks"] = [make_callback(transformers.TrainerCallback)]
        our_kwargs["callbacks"] = [make_callback(TrainerCallback)]
    ref = build_reference(copy.deepcopy(model), kwargs, **ref_kwargs)
    ref_out = ref.train(**(train_kwargs or {}))
    ours = build_ours(copy.deepcopy(model), kwargs, **our_kwargs)
    our_out = ours.train(**(train_kwargs or {}))
    return ref, ours, ref_out, our_out


def strip_runtime(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not any(part in k for part in RUNTIME_KEYS)}


def assert_close_number(a: Any, b: Any, key: str, rtol: float) -> None:
    if isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), f"{key}: {a} != {b}"
        return
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12), f"{key}: {a} != {b}"
    else:
        assert a == b, f"{key}: {a!r} != {b!r}"


def assert_same_logs(
    ref_history: list[dict[str, Any]], our_history: list[dict[str, Any]], rtol: float = 1e-6
) -> None:
    """Every log_history entry has the same keys (in order) and the same numbers, runtimes aside."""
    assert len(ref_history) == len(our_history), (ref_history, our_history)
    for ref_entry, our_entry in zip(ref_history, our_history):
        assert list(ref_entry) == list(our_entry), (ref_entry, our_entry)
        ref_clean, our_clean = strip_runtime(ref_entry), strip_runtime(our_entry)
        for key in ref_clean:
            assert_close_number(ref_clean[key], our_clean[key], key, rtol)


def assert_same_weights(ref_model: nn.Module, our_model: nn.Module, rtol: float = 1e-5) -> None:
    ref_state, our_state = ref_model.state_dict(), our_model.state_dict()
    assert list(ref_state) == list(our_state)
    for key in ref_state:
        torch.testing.assert_close(our_state[key], ref_state[key], rtol=rtol, atol=1e-7, msg=key)


STATE_FIELDS = (
    "epoch", "global_step", "max_steps", "logging_steps", "eval_steps", "save_steps", "train_batch_size",
    "num_train_epochs", "num_input_tokens_seen", "total_flos", "best_metric", "best_global_step",
    "is_local_process_zero", "is_world_process_zero", "is_hyper_param_search", "trial_name", "trial_params",
)  # fmt: skip


def assert_same_state(ref_state: Any, our_state: Any) -> None:
    """The TrainerState fields (log history and callback states aside) are equal."""
    for name in STATE_FIELDS:
        assert_close_number(getattr(ref_state, name), getattr(our_state, name), name, 1e-9)
