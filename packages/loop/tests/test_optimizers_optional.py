"""Optimizers from optional packages: a clear error when missing, transformers' wiring when present.

None of these packages is installed here, so the "present" cases use stand-in modules
whose optimizer classes are plain torch optimizers: what is compared is the class
chosen, the kwargs and the parameter groups, i.e. the wiring this package owns.
"""

from __future__ import annotations

import copy
import sys
import types
from typing import Any, ClassVar

import pytest
import torch
import transformers
import transformers.trainer_optimizer as hf_optim
from torch import nn

import trainer_args
from trainer_loop import optim as optimizers
from trainer_loop.optim.optional import PACKAGES
from trainer_loop.schedulers import get_scheduler
from trainer_loop.schedulers.layerwise import LayerWiseDummyOptimizer, LayerWiseDummyScheduler

pytestmark = pytest.mark.reference

HF = transformers.Trainer


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(8, 4)
        self.attn = nn.Linear(4, 4)
        self.mlp = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.mlp(self.attn(self.embed(ids))))


def _args(optim: str, tmp_path: Any, **kwargs: Any) -> tuple[Any, Any]:
    values = dict(
        output_dir=str(tmp_path), optim=optim, learning_rate=0.01, weight_decay=0.1,
        warmup_steps=3, use_cpu=True, report_to="none", **kwargs,
    )  # fmt: skip
    return trainer_args.TrainingArguments(**values), transformers.TrainingArguments(**values)


@pytest.mark.parametrize("optim", sorted(PACKAGES))
def test_missing_package_is_named(optim: str, tmp_path: Any) -> None:
    args, hf_args = _args(optim, tmp_path, optim_target_modules=["attn"])
    with pytest.raises(optimizers.OptimizerUnavailableError) as error:
        optimizers.get_optimizer_cls_and_kwargs(args, Net())
    message = str(error.value)
    assert f"optim={optim!r}" in message
    assert PACKAGES[optim][1].split(" ")[0] in message
    assert "adamw_torch" in message  # what is available instead
    assert isinstance(error.value, ValueError) and isinstance(error.value, ImportError)
    with pytest.raises((ValueError, ImportError)):
        HF.get_optimizer_cls_and_kwargs(hf_args, Net())


def test_unknown_optim_lists_the_available_ones() -> None:
    args = types.SimpleNamespace(
        optim="adamw_hf",
        learning_rate=1.0,
        adam_beta1=0.9,
        adam_beta2=0.9,
        adam_epsilon=1e-8,
        optim_args=None,
    )
    with pytest.raises(ValueError, match=r"optim='adamw_hf'.*allowed: \['adamw_torch'"):
        optimizers.get_optimizer_cls_and_kwargs(args)


def _optimizer_class(name: str, module: str = "stand_in") -> type:
    base = torch.optim.AdamW

    def init(self: Any, params: Any, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        known = {k: v for k, v in kwargs.items() if k in ("lr", "betas", "eps", "weight_decay")}
        base.__init__(self, params, **known)

    return type(name, (base,), {"__init__": init, "__module__": module})


def _module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, name, module)
    return module


class _Manager:
    overrides: ClassVar[list[Any]] = []

    @classmethod
    def get_instance(cls) -> type[_Manager]:
        return cls

    @classmethod
    def register_module_override(cls, module: nn.Module, name: str, config: dict[str, Any]) -> None:
        cls.overrides.append((type(module).__name__, name, config))


@pytest.fixture
def fake_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    bnb_optim = _module(
        monkeypatch, "bitsandbytes.optim", GlobalOptimManager=_Manager,
        **{n: _optimizer_class(n, "bitsandbytes.optim") for n in ("AdamW", "Lion", "RMSprop", "AdEMAMix")},
    )  # fmt: skip
    _module(monkeypatch, "bitsandbytes", optim=bnb_optim)
    classes = ("AdamWScheduleFree", "SGDScheduleFree", "RAdamScheduleFree")
    _module(
        monkeypatch,
        "schedulefree",
        __version__="1.4.1",
        **{n: _optimizer_class(n) for n in classes},
    )
    _module(monkeypatch, "grokadamw", GrokAdamW=_optimizer_class("GrokAdamW"))
    _module(monkeypatch, "optimi", StableAdamW=_optimizer_class("StableAdamW"))
    galore = ("GaLoreAdamW", "GaLoreAdamW8bit", "GaLoreAdafactor")
    _module(monkeypatch, "galore_torch", **{n: _optimizer_class(n) for n in galore})
    _module(monkeypatch, "apollo_torch", APOLLOAdamW=_optimizer_class("APOLLOAdamW"))
    for flag in (
        "bitsandbytes",
        "schedulefree",
        "grokadamw",
        "torch_optimi",
        "galore_torch",
        "apollo_torch",
    ):
        monkeypatch.setattr(hf_optim, f"is_{flag}_available", lambda *a: True)
    _Manager.overrides = []


def _same_wiring(optim: str, tmp_path: Any, **kwargs: Any) -> tuple[Any, Any]:
    args, hf_args = _args(optim, tmp_path, **kwargs)
    ours = optimizers.get_optimizer_cls_and_kwargs(args, Net())
    theirs = HF.get_optimizer_cls_and_kwargs(hf_args, Net())
    assert ours[0] is theirs[0]
    return ours[1], theirs[1]


BNB_CASES = [(name, None) for name in PACKAGES if PACKAGES[name][0] == "bitsandbytes"] + [
    ("ademamix", "beta3=0.99,alpha=4,t_alpha=10,t_beta3=20,eps=1e-7"),
    ("rmsprop_bnb", "alpha=0.9"),
]


@pytest.mark.parametrize(("optim", "optim_args"), BNB_CASES)
def test_bitsandbytes_wiring(
    fake_packages: None, tmp_path: Any, optim: str, optim_args: Any
) -> None:
    ours, theirs = _same_wiring(optim, tmp_path, optim_args=optim_args)
    assert ours == theirs


def test_bitsandbytes_8bit_keeps_embeddings_in_fp32(fake_packages: None, tmp_path: Any) -> None:
    args, _ = _args("adamw_8bit", tmp_path)
    optimizers.create_optimizer(Net(), args)
    assert _Manager.overrides == [("Embedding", "weight", {"optim_bits": 32})]


@pytest.mark.parametrize(
    ("optim", "optim_args"),
    [
        ("schedule_free_adamw", "weight_lr_power=1.5"),
        ("schedule_free_sgd", None),
        ("schedule_free_radam", "r=0.5"),
        ("grokadamw", "lamb=3,gamma=0.2"),
        ("stable_adamw", "max_lr=0.1"),
    ],
)
def test_single_class_wiring(
    fake_packages: None, tmp_path: Any, optim: str, optim_args: Any
) -> None:
    ours, theirs = _same_wiring(optim, tmp_path, optim_args=optim_args)
    assert ours == theirs


def test_stable_adamw_parses_booleans(fake_packages: None, tmp_path: Any) -> None:
    # transformers turns "False" into True with bool(); the words mean what they say here.
    args, _ = _args("stable_adamw", tmp_path, optim_args="kahan_sum=False,decouple_lr=true")
    _, kwargs = optimizers.get_optimizer_cls_and_kwargs(args)
    assert kwargs["kahan_sum"] is False and kwargs["decouple_lr"] is True


def _groups(optimizer: torch.optim.Optimizer, model: nn.Module) -> list[dict[str, Any]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [{**g, "params": [names[id(p)] for p in g["params"]]} for g in optimizer.param_groups]


LOW_RANK_CASES = [
    ("galore_adamw", ["attn", "mlp"], "rank=2,update_proj_gap=5,scale=0.5"),
    ("galore_adamw_8bit", "all-linear", None),
    ("galore_adafactor", r".*attn", None),
    ("apollo_adamw", ["attn"], "rank=3,proj=gaussian"),
]


@pytest.mark.parametrize(("optim", "targets", "optim_args"), LOW_RANK_CASES)
def test_low_rank_groups(
    fake_packages: None, tmp_path: Any, optim: str, targets: Any, optim_args: Any
) -> None:
    args, hf_args = _args(optim, tmp_path, optim_target_modules=targets, optim_args=optim_args)
    torch.manual_seed(0)
    model = Net()
    ours = optimizers.create_optimizer(model, args)
    trainer = types.SimpleNamespace(
        model=model, optimizer=None, args=hf_args, optimizer_cls_and_kwargs=None
    )
    trainer.get_decay_parameter_names = lambda m: HF.get_decay_parameter_names(trainer, m)
    trainer.get_optimizer_cls_and_kwargs = HF.get_optimizer_cls_and_kwargs
    theirs = HF.create_optimizer(trainer)  # type: ignore[arg-type]
    assert type(ours) is type(theirs)
    assert _groups(ours, model) == _groups(theirs, model)
    assert ours.init_kwargs == theirs.init_kwargs  # type: ignore[attr-defined]


def test_low_rank_needs_targets_and_linear_layers(fake_packages: None, tmp_path: Any) -> None:
    args, _ = _args("galore_adamw", tmp_path)
    with pytest.raises(ValueError, match="optim_target_modules"):
        optimizers.get_optimizer_cls_and_kwargs(args, Net())
    args, _ = _args("galore_adamw", tmp_path, optim_target_modules=["norm"])
    with pytest.raises(ValueError, match="No target modules found"):
        optimizers.get_optimizer_cls_and_kwargs(args, Net())


def _train_layerwise(model: nn.Module, optimizer: Any, scheduler: Any) -> list[list[float]]:
    lrs = []
    for step in range(4):
        model(torch.tensor([[step, 1, 2]])).pow(2).sum().backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        lrs.append(scheduler.get_last_lr())
    return lrs


def test_layerwise_galore_trains_like_transformers(fake_packages: None, tmp_path: Any) -> None:
    args, hf_args = _args("galore_adamw_layerwise", tmp_path, optim_target_modules=["attn"])
    torch.manual_seed(0)
    ours_model = Net()
    theirs_model = copy.deepcopy(ours_model)
    initial = copy.deepcopy(ours_model)
    ours = optimizers.create_optimizer(ours_model, args)
    assert isinstance(ours, LayerWiseDummyOptimizer)
    ours_scheduler = get_scheduler("linear", ours, 1, 4)
    assert isinstance(ours_scheduler, LayerWiseDummyScheduler)

    # transformers' LayerWiseDummyScheduler fails on torch 2.13 (one dummy group, many lrs),
    # so the reference steps transformers' per-parameter optimizers and schedules directly.
    _, kwargs = HF.get_optimizer_cls_and_kwargs(hf_args, theirs_model)
    inner = kwargs["optimizer_dict"]
    schedules = {p: transformers.get_scheduler("linear", o, 1, 4) for p, o in inner.items()}
    for param in inner:
        param.register_post_accumulate_grad_hook(lambda p: schedules[p].step())
    reference = types.SimpleNamespace(
        get_last_lr=lambda: [g["lr"] for o in inner.values() for g in o.param_groups],
        step=lambda: None,
    )
    no_op = types.SimpleNamespace(step=lambda: None, zero_grad=lambda: None)

    assert _train_layerwise(ours_model, ours, ours_scheduler) == _train_layerwise(
        theirs_model, no_op, reference
    )
    for a, b in zip(ours_model.parameters(), theirs_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(ours_model.attn.weight, initial.attn.weight)  # the hooks did train
    assert ours.optimizer_dict[ours_model.attn.weight].param_groups[0]["rank"] == 128


def test_layerwise_refuses_gradient_accumulation(fake_packages: None, tmp_path: Any) -> None:
    args, _ = _args(
        "galore_adamw_layerwise",
        tmp_path,
        optim_target_modules=["attn"],
        gradient_accumulation_steps=2,
    )
    with pytest.raises(ValueError, match="gradient accumulation"):
        optimizers.get_optimizer_cls_and_kwargs(args, Net())


def test_lomo_gets_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    class Lomo(torch.optim.SGD):
        def __init__(self, model: nn.Module, lr: float) -> None:
            self.model = model
            super().__init__(model.parameters(), lr=lr)

    _module(monkeypatch, "lomo_optim", Lomo=Lomo, AdaLomo=Lomo)
    model = Net()
    args, _ = _args("adalomo", tmp_path)
    optimizer = optimizers.create_optimizer(model, args)
    assert isinstance(optimizer, Lomo) and optimizer.model is model
    with pytest.raises(ValueError, match="model"):
        optimizers.get_optimizer_cls_and_kwargs(args)


def test_torchao_wiring(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    ao_optim = _module(
        monkeypatch,
        "torchao.optim",
        AdamW4bit=_optimizer_class("A4"),
        AdamW8bit=_optimizer_class("A8"),
    )
    _module(monkeypatch, "torchao", __version__="0.12.0", optim=ao_optim)
    args, _ = _args(
        "adamw_torch_4bit", tmp_path, optim_args="block_size=128,bf16_stochastic_round=true"
    )
    cls, kwargs = optimizers.get_optimizer_cls_and_kwargs(args)
    assert cls is ao_optim.AdamW4bit
    assert kwargs == {
        "lr": 0.01, "block_size": 128, "bf16_stochastic_round": True,
        "betas": (0.9, 0.999), "eps": 1e-8,
    }  # fmt: skip
    monkeypatch.setattr(sys.modules["torchao"], "__version__", "0.3.0")
    with pytest.raises(optimizers.OptimizerUnavailableError, match=r"torchao>=0.4.0"):
        optimizers.get_optimizer_cls_and_kwargs(args)
