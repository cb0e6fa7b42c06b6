"""Optimizer, scheduler, scaler and model files: JSON + safetensors round trips that keep every bit."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer_loop.checkpoints import (
    load_checkpoint_model,
    load_checkpoint_optimizer_and_scheduler,
    save_model_files,
)
from trainer_loop.checkpoints.codec import decode, encode, read_state, write_state
from trainer_loop.checkpoints.optimizer_state import save_optimizer, save_scaler, save_scheduler
from trainer_loop.optim.adafactor import Adafactor, get_adafactor_schedule
from trainer_loop.schedulers import get_scheduler


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1000 + step)
    return torch.randn(5, 6, generator=generator), torch.randn(5, 3, generator=generator)


def _steps(model: torch.nn.Module, optimizer: Any, scheduler: Any, start: int, stop: int) -> None:
    for step in range(start, stop):
        x, y = _batch(step)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)


OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    "adamw_amsgrad": lambda p: torch.optim.AdamW(p, lr=1e-2, amsgrad=True),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2),
    "adafactor": lambda p: Adafactor(p, lr=1e-2, scale_parameter=False, relative_step=False),
    "adafactor_relative": lambda p: Adafactor(p, warmup_init=True, beta1=0.9),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resumed_training_is_bitwise_identical(name: str, tmp_path: Path) -> None:
    def build(seed: int) -> tuple[torch.nn.Module, Any, Any]:
        model = _model(seed)
        # Two param groups, as the Trainer's decay / no-decay split.
        params = list(model.parameters())
        groups = [{"params": params[::2]}, {"params": params[1::2], "weight_decay": 0.0}]
        optimizer = OPTIMIZERS[name](groups)
        if name == "adafactor_relative":  # no external lr: its own schedule reports the lr
            return model, optimizer, get_adafactor_schedule(optimizer)
        return model, optimizer, get_scheduler("cosine", optimizer, 2, 8)

    model, optimizer, scheduler = build(0)
    _steps(model, optimizer, scheduler, 0, 8)

    first, opt1, sched1 = build(0)
    _steps(first, opt1, sched1, 0, 4)
    save_model_files(first, tmp_path)
    save_optimizer(opt1, tmp_path)
    save_scheduler(sched1, tmp_path)

    resumed, opt2, sched2 = build(123)  # other initial weights: everything must come from disk
    load_checkpoint_model(resumed, tmp_path)
    assert load_checkpoint_optimizer_and_scheduler(opt2, sched2, None, tmp_path)
    _steps(resumed, opt2, sched2, 4, 8)

    for expected, got in zip(model.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(expected, got)
    assert sched2.get_last_lr() == scheduler.get_last_lr()


SCHEDULERS = [
    ("linear", {}),
    ("cosine_with_restarts", {"num_cycles": 2}),
    ("polynomial", {"power": 2.0}),
    ("inverse_sqrt", {}),
    ("warmup_stable_decay", {"num_decay_steps": 3}),
    ("reduce_lr_on_plateau", {"patience": 1}),
]


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULERS)
def test_scheduler_json_round_trip(name: str, kwargs: dict[str, Any], tmp_path: Path) -> None:
    optimizer = torch.optim.SGD(_model(0).parameters(), lr=0.1)
    scheduler = get_scheduler(name, optimizer, 2, 10, scheduler_specific_kwargs=kwargs)
    for _ in range(3):
        optimizer.step()
        scheduler.step(*([1.0] if name == "reduce_lr_on_plateau" else []))
    save_scheduler(scheduler, tmp_path)
    json.loads((tmp_path / "scheduler.json").read_text(), parse_constant=pytest.fail)  # strict JSON

    other = get_scheduler(name, torch.optim.SGD(_model(0).parameters(), lr=0.1), 2, 10, kwargs)
    load_checkpoint_optimizer_and_scheduler(optimizer, other, None, tmp_path)  # no optimizer: skip
    save_optimizer(optimizer, tmp_path)
    load_checkpoint_optimizer_and_scheduler(optimizer, other, None, tmp_path)
    assert other.state_dict() == scheduler.state_dict()


def test_scheduler_with_tensor_state_keeps_tensors_in_safetensors(tmp_path: Path) -> None:
    optimizer = torch.optim.SGD(_model(0).parameters(), lr=torch.tensor(0.1))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5**s)
    scheduler.base_lrs = [torch.tensor(0.1)]  # a tensor anywhere in the state must survive
    optimizer.step()
    scheduler.step()
    save_scheduler(scheduler, tmp_path)
    state = read_state(tmp_path / "scheduler.json", tmp_path / "scheduler.safetensors")
    assert torch.equal(state["base_lrs"][0], torch.tensor(0.1))
    assert state["last_epoch"] == 1


def test_grad_scaler_round_trip(tmp_path: Path) -> None:
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    scaler._lazy_init_scale_growth_tracker(torch.device("cpu"))
    scaler.update(new_scale=512.0)
    save_scaler(scaler, tmp_path)
    save_optimizer(torch.optim.SGD(_model(0).parameters(), lr=0.1), tmp_path)
    restored = torch.amp.GradScaler("cpu")
    load_checkpoint_optimizer_and_scheduler(
        torch.optim.SGD(_model(0).parameters(), lr=0.1), None, restored, tmp_path
    )
    assert restored.state_dict() == scaler.state_dict()
    assert restored.get_scale() == 512.0


def test_codec_round_trips_what_json_lacks() -> None:
    value = {
        "tuple": (1, 2.5, (None, "x")),
        "inf": -math.inf,
        "nan_list": [math.nan],
        3: {"int_keyed": True},
        "__tuple__": "a key that looks like a tag",
        "t": torch.arange(4, dtype=torch.float64),
        "scalar": torch.tensor(7, dtype=torch.int32),
        "float": 0.1 + 0.2,
    }
    tensors: dict[str, torch.Tensor] = {}
    text = json.dumps(encode(value, tensors), allow_nan=False)
    back = decode(json.loads(text), tensors)
    assert back.keys() == value.keys()
    assert back["tuple"] == value["tuple"] and back["inf"] == -math.inf
    assert math.isnan(back["nan_list"][0]) and back[3] == {"int_keyed": True}
    assert back["float"] == 0.1 + 0.2 and back["__tuple__"] == value["__tuple__"]
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float64
    assert torch.equal(back["scalar"], value["scalar"])


def test_codec_names_the_entry_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"/state/0/callable.*without pickle"):
        write_state(
            tmp_path / "x.json", tmp_path / "x.safetensors", {"state": {0: {"callable": len}}}
        )


def test_tied_weights_are_saved_once_and_restored(tmp_path: Path) -> None:
    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(5, 4)
            self.head = torch.nn.Linear(4, 5, bias=False)
            self.head.weight = self.embed.weight

    torch.manual_seed(0)
    model = Tied()
    save_model_files(model, tmp_path)
    torch.manual_seed(1)
    other = Tied()
    load_checkpoint_model(other, tmp_path)
    assert torch.equal(other.head.weight, model.embed.weight)
    assert other.head.weight is other.embed.weight


def test_missing_weights_raise_as_transformers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Can't find a valid checkpoint at"):
        load_checkpoint_model(_model(0), tmp_path / "nowhere")
    with pytest.raises(ValueError, match="Can't find a valid checkpoint at"):
        load_checkpoint_model(_model(0), tmp_path)


def test_disabled_grad_scaler_writes_nothing(tmp_path: Path) -> None:
    save_scaler(torch.amp.GradScaler("cpu", enabled=False), tmp_path)
    assert not (tmp_path / "scaler.json").exists()


def test_optimizer_alone_without_scheduler(tmp_path: Path) -> None:
    model = _model(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _steps(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0), 0, 2)
    save_optimizer(optimizer, tmp_path)
    other = torch.optim.SGD(_model(0).parameters(), lr=0.1, momentum=0.9)
    assert load_checkpoint_optimizer_and_scheduler(other, None, None, tmp_path)
    assert other.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()


@pytest.mark.reference
def test_save_pretrained_model_round_trip_without_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    save_model_files(model, tmp_path)
    assert {"config.json", "model.safetensors"} <= set(os.listdir(tmp_path))
    torch.manual_seed(1)
    other = transformers.GPT2LMHeadModel(config)
    load_checkpoint_model(other, tmp_path)
    for (name, expected), got in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(expected, got), name
    assert other.lm_head.weight.data_ptr() == other.transformer.wte.weight.data_ptr()
    assert "missing keys" not in caplog.text and "unexpected keys" not in caplog.text


def test_large_states_are_written_in_shards(tmp_path: Path) -> None:
    state = {"state": {i: {"exp_avg": torch.full((64,), float(i))} for i in range(5)}, "lr": 0.1}
    write_state(tmp_path / "o.json", tmp_path / "o.safetensors", state, max_shard_bytes=600)
    shards = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert shards == [f"o-{i:05d}-of-00003.safetensors" for i in (1, 2, 3)]
    back = read_state(tmp_path / "o.json", tmp_path / "o.safetensors")
    assert back["lr"] == 0.1
    for i in range(5):
        assert torch.equal(back["state"][i]["exp_avg"], state["state"][i]["exp_avg"])


def test_tensor_file_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    document = {"format_version": 1, "state": {}, "tensor_files": ["../elsewhere.safetensors"]}
    (tmp_path / "o.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="outside its folder"):
        read_state(tmp_path / "o.json", tmp_path / "o.safetensors")
