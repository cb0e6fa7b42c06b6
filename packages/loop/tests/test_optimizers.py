"""Optimizer lookup, parameter groups and updates match transformers' Trainer."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import transformers
from torch import nn

import trainer_args
from trainer_loop import optim as optimizers
from trainer_loop.optim.adafactor import Adafactor, get_adafactor_schedule

pytestmark = pytest.mark.reference

HF = transformers.Trainer

TORCH_CASES: list[tuple[str, str | None]] = [
    ("adamw_torch", None),
    ("adamw_torch_fused", None),
    ("adafactor", None),
    ("sgd", None),
    ("sgd", "momentum=0.9, dampening=0.1,weight_decay=0.01,nesterov=False"),
    ("sgd", "momentum=0.9,nesterov=True"),
    ("adagrad", "lr_decay=0.01,weight_decay=0.1,eps=1e-6"),
    ("adagrad", None),
    ("rmsprop", "momentum=0.5,alpha=0.9,eps=1e-7,weight_decay=0.01,centered=yes"),
    ("rmsprop", "centered=false"),
]


@pytest.fixture(scope="module")
def args_factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(our TrainingArguments, transformers' TrainingArguments) with the same values."""
    out = str(tmp_path_factory.mktemp("out"))

    def make(optim: str, optim_args: str | None = None, **kwargs: Any) -> tuple[Any, Any]:
        values = dict(
            output_dir=out, optim=optim, optim_args=optim_args, learning_rate=0.01,
            adam_beta1=0.8, adam_beta2=0.95, adam_epsilon=1e-6, weight_decay=0.1,
            use_cpu=True, report_to="none", **kwargs,
        )  # fmt: skip
        return trainer_args.TrainingArguments(**values), transformers.TrainingArguments(**values)

    return make


class TinyNet(nn.Module):
    """Names that exercise every no-decay rule: bias, LayerNorm, RMSNorm, *_norm, .norm."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.proj = nn.Linear(6, 6)
        self.layer_norm = nn.LayerNorm(6)
        self.rms = nn.RMSNorm(6)
        self.norm = nn.LayerNorm(6, bias=False)
        self.q_norm = nn.Linear(6, 6, bias=False)
        self.frozen = nn.Linear(6, 6)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(6, 3)
        self.scale = nn.Parameter(torch.ones(3))
        self.normalizer = nn.Linear(3, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids)
        h = self.rms(self.layer_norm(self.proj(h)))
        h = self.norm(self.q_norm(h) + self.frozen(h))
        return self.normalizer(self.head(h) * self.scale)


def _gpt2() -> nn.Module:
    config = transformers.GPT2Config(n_layer=2, n_embd=8, n_head=2, n_positions=16, vocab_size=32)
    torch.manual_seed(0)
    return transformers.GPT2LMHeadModel(config)


def _hf_decay_names(model: nn.Module) -> list[str]:
    return HF.get_decay_parameter_names(None, model)  # type: ignore[arg-type]


@pytest.mark.parametrize("build", [TinyNet, _gpt2], ids=["torch_nn", "gpt2"])
def test_decay_parameter_names_match_transformers(build: Any) -> None:
    model = build()
    names = optimizers.get_decay_parameter_names(model)
    assert names == _hf_decay_names(model)


def test_decay_names_of_tiny_net() -> None:
    names = optimizers.get_decay_parameter_names(TinyNet())
    # As in transformers 5.x, an RMSNorm is only excluded by name ("rmsnorm", "norm", "*_norm"),
    # so `rms.weight` decays; frozen parameters are listed (create_optimizer drops them).
    assert names == [
        "embed.weight", "proj.weight", "rms.weight", "frozen.weight", "head.weight",
        "normalizer.weight", "scale",
    ]  # fmt: skip


@pytest.mark.parametrize(("optim", "optim_args"), TORCH_CASES)
def test_cls_and_kwargs_match_transformers(
    args_factory: Any, optim: str, optim_args: str | None
) -> None:
    args, hf_args = args_factory(optim, optim_args)
    ours = optimizers.get_optimizer_cls_and_kwargs(args)
    theirs = HF.get_optimizer_cls_and_kwargs(hf_args)
    expected_cls = Adafactor if optim == "adafactor" else theirs[0]
    assert ours[0] is expected_cls
    assert ours[1] == theirs[1]


def test_plain_namespace_and_string_optim() -> None:
    args = SimpleNamespace(
        optim="adamw_torch_fused", learning_rate=0.5, adam_beta1=0.9, adam_beta2=0.99,
        adam_epsilon=1e-8, optim_args=None,
    )  # fmt: skip
    cls, kwargs = optimizers.get_optimizer_cls_and_kwargs(args)
    assert cls is torch.optim.AdamW
    assert kwargs == {"lr": 0.5, "betas": (0.9, 0.99), "eps": 1e-8, "fused": True}


def _hf_create_optimizer(
    model: nn.Module, args: Any, cls_and_kwargs: Any = None
) -> torch.optim.Optimizer:
    trainer = SimpleNamespace(
        model=model, optimizer=None, args=args, optimizer_cls_and_kwargs=cls_and_kwargs
    )
    trainer.get_decay_parameter_names = lambda m: HF.get_decay_parameter_names(trainer, m)
    trainer.get_optimizer_cls_and_kwargs = HF.get_optimizer_cls_and_kwargs
    return HF.create_optimizer(trainer)  # type: ignore[arg-type]


def _describe(optimizer: torch.optim.Optimizer, model: nn.Module) -> list[dict[str, Any]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [
        {
            **{k: v for k, v in g.items() if k != "params"},
            "params": [names[id(p)] for p in g["params"]],
        }
        for g in optimizer.param_groups
    ]


def _train(
    model: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 4
) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        ids = torch.randint(0, 10, (4, 5), generator=generator)
        model(ids).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(("optim", "optim_args"), TORCH_CASES)
def test_create_optimizer_groups_and_updates_match(
    args_factory: Any, optim: str, optim_args: Any
) -> None:
    args, hf_args = args_factory(optim, optim_args)
    torch.manual_seed(0)
    ours_model = TinyNet()
    theirs_model = copy.deepcopy(ours_model)
    ours = optimizers.create_optimizer(ours_model, args)
    theirs = _hf_create_optimizer(theirs_model, hf_args)
    assert _describe(ours, ours_model) == _describe(theirs, theirs_model)
    for a, b in zip(_train(ours_model, ours), _train(theirs_model, theirs)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_gpt2_groups_match(args_factory: Any) -> None:
    args, hf_args = args_factory("adamw_torch")
    model = _gpt2()
    assert _describe(optimizers.create_optimizer(model, args), model) == _describe(
        _hf_create_optimizer(model, hf_args), model
    )


def test_optimizer_cls_and_kwargs_override(args_factory: Any) -> None:
    args, hf_args = args_factory("adamw_torch")
    override = (torch.optim.SGD, {"lr": 0.5, "momentum": 0.9})
    model = TinyNet()
    ours = optimizers.create_optimizer(model, args, override)
    theirs = _hf_create_optimizer(model, hf_args, (torch.optim.SGD, {"lr": 0.5, "momentum": 0.9}))
    assert isinstance(ours, torch.optim.SGD)
    assert _describe(ours, model) == _describe(theirs, model)
    assert ours.param_groups[0]["lr"] == 0.5
    assert override[1] == {"lr": 0.5, "momentum": 0.9}  # left untouched for the next train()


def test_factory_is_called_with_the_model(args_factory: Any) -> None:
    seen: dict[str, Any] = {}

    class Factory:
        def __call__(self, model: nn.Module, **kwargs: Any) -> torch.optim.Optimizer:
            seen.update(model=model, kwargs=kwargs)
            return torch.optim.SGD(model.parameters(), lr=kwargs["lr"])

    model = TinyNet()
    optimizer = optimizers.create_optimizer(model, args_factory("sgd")[0], (Factory, {"lr": 0.2}))
    assert seen == {"model": model, "kwargs": {"lr": 0.2}}
    assert optimizer.param_groups[0]["lr"] == 0.2
    assert optimizers.is_optimizer_factory(Factory) and not optimizers.is_optimizer_factory(
        torch.optim.SGD
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 1e-2, "scale_parameter": False, "relative_step": False},
        {},
        {"beta1": 0.9, "weight_decay": 0.1, "warmup_init": True},
        {
            "lr": 0.1,
            "relative_step": False,
            "beta1": 0.5,
            "clip_threshold": 0.5,
            "decay_rate": -0.5,
        },
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_adafactor_updates_bitwise_like_transformers(
    kwargs: dict[str, Any], dtype: torch.dtype
) -> None:
    torch.manual_seed(0)
    ours_model = TinyNet().to(dtype)
    theirs_model = copy.deepcopy(ours_model)
    ours = _train(ours_model, Adafactor(ours_model.parameters(), **kwargs))
    theirs = _train(theirs_model, transformers.Adafactor(theirs_model.parameters(), **kwargs))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_adafactor_option_errors_match() -> None:
    params = [nn.Parameter(torch.ones(2))]
    for kwargs, match in [
        ({"lr": 0.1}, "relative_step"),
        ({"warmup_init": True, "relative_step": False}, "warmup_init"),
    ]:
        with pytest.raises(ValueError, match=match):
            transformers.Adafactor(params, **kwargs)
        with pytest.raises(ValueError, match=match):
            Adafactor(params, **kwargs)


def test_adafactor_schedule_reports_the_relative_step() -> None:
    lrs = []
    for cls, sched in (
        (Adafactor, get_adafactor_schedule),
        (transformers.Adafactor, transformers.optimization.get_adafactor_schedule),
    ):
        torch.manual_seed(0)
        model = TinyNet()
        optimizer = cls(model.parameters(), warmup_init=True)
        scheduler = sched(optimizer, initial_lr=0.3)
        run = [scheduler.get_last_lr()]
        for _ in range(3):
            model(torch.tensor([[1, 2]])).sum().backward()
            optimizer.step()
            scheduler.step()
            run.append(scheduler.get_last_lr())
        lrs.append(run)
    assert lrs[0] == lrs[1]


def test_overridden_trainer_hooks_shape_the_optimizer(tmp_path: Any) -> None:
    from trainer_args import TrainingArguments
    from trainer_loop import Trainer

    class HookedTrainer(Trainer):
        def get_decay_parameter_names(self, model: torch.nn.Module) -> list[str]:
            return ["head.weight"]

        @staticmethod
        def get_optimizer_cls_and_kwargs(args: Any, model: Any = None) -> tuple[Any, Any]:
            return torch.optim.SGD, {"lr": 0.3}

    args = TrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", weight_decay=0.1
    )
    model = TinyNet()
    optimizer = HookedTrainer(model=model, args=args).create_optimizer()
    assert isinstance(optimizer, torch.optim.SGD)
    assert _describe(optimizer, model)[0]["params"] == ["head.weight"]
    assert _describe(optimizer, model)[0]["weight_decay"] == 0.1
    assert len(_describe(optimizer, model)[1]["params"]) == 12
