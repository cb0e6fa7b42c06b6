"""build_accelerator: accelerate configured from TrainingArguments, clear errors for what cannot run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import torch
from accelerate.state import AcceleratorState

from trainer_dist.accelerator import (
    build_accelerator,
    build_accelerator_kwargs,
    find_unused_parameters,
)
from trainer_dist.errors import UnsupportedSetupError
from trainer_dist.precision import configure_tf32, full_eval_dtype, tf32_enabled


def test_cpu_defaults_follow_transformers(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args(gradient_accumulation_steps=4, data_seed=5)
    accelerator = build_accelerator(args)
    assert accelerator.device.type == "cpu"
    assert accelerator.mixed_precision == "no"
    # the Trainer accumulates itself: accelerate must not divide the loss again
    assert accelerator.gradient_accumulation_steps == 1
    assert accelerator.gradient_state.plugin_kwargs["sync_with_dataloader"] is False
    config = accelerator.dataloader_config
    assert (config.split_batches, config.even_batches, config.use_seedable_sampler) == (
        False,
        True,
        True,
    )
    assert config.data_seed == 5
    assert accelerator.ddp_handler is not None
    assert accelerator.ddp_handler.find_unused_parameters is True


def test_accumulation_can_be_left_to_accelerate(make_args) -> None:  # type: ignore[no-untyped-def]
    accelerator = build_accelerator(
        make_args(gradient_accumulation_steps=3), accumulate_in_accelerate=True
    )
    assert accelerator.gradient_accumulation_steps == 3


def test_accelerator_config_reaches_accelerate(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args(
        accelerator_config={
            "split_batches": True,
            "even_batches": False,
            "use_seedable_sampler": False,
            "gradient_accumulation_kwargs": {"sync_each_batch": True},
        }
    )
    accelerator = build_accelerator(args)
    config = accelerator.dataloader_config
    assert (config.split_batches, config.even_batches, config.use_seedable_sampler) == (
        True,
        False,
        False,
    )
    assert accelerator.gradient_state.plugin_kwargs["sync_each_batch"] is True


def test_num_steps_in_accelerator_config(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args(accelerator_config={"gradient_accumulation_kwargs": {"num_steps": 5}})
    build_accelerator(args)
    assert args.gradient_accumulation_steps == 5
    clash = make_args(
        gradient_accumulation_steps=2,
        accelerator_config={"gradient_accumulation_kwargs": {"num_steps": 5}},
    )
    with pytest.raises(ValueError, match="num_steps"):
        build_accelerator(clash)


def test_bf16_on_cpu_trains_under_autocast(make_args) -> None:  # type: ignore[no-untyped-def]
    accelerator = build_accelerator(make_args(bf16=True))
    assert accelerator.mixed_precision == "bf16"
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    with accelerator.autocast():
        assert (torch.ones(2, 4) @ torch.ones(4, 2)).dtype == torch.bfloat16
    before = model.weight.detach().clone()
    loss = model(torch.randn(8, 4)).pow(2).mean()
    accelerator.backward(loss)
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, model.weight.detach())


def test_fp16_on_cpu_is_refused(make_args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedSetupError, match=r"fp16=True.*cpu") as info:
        build_accelerator(make_args(fp16=True))
    assert isinstance(info.value, ValueError)
    assert info.value.argument == "fp16"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_tf32_without_cuda_is_refused(make_args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnsupportedSetupError, match=r"tf32=True.*Ampere"):
        build_accelerator(make_args(tf32=True))
    configure_tf32(False)  # nothing to switch off: no error
    configure_tf32(None)
    assert not tf32_enabled()


def test_fsdp_needs_distributed_training(make_args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"Using fsdp only works in distributed training\."):
        build_accelerator(make_args(fsdp="full_shard"))


def test_deepspeed_without_the_package_names_it(make_args, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("trainer_dist.deepspeed.deepspeed_available", lambda: False)
    args = make_args(use_cpu=False, deepspeed={"zero_optimization": {"stage": 2}})
    with pytest.raises(UnsupportedSetupError, match="deepspeed"):
        build_accelerator(args)


def test_ddp_kwargs(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args(
        ddp_find_unused_parameters=False, ddp_bucket_cap_mb=10, ddp_broadcast_buffers=False
    )
    handler = build_accelerator_kwargs(args)["kwargs_handlers"][0]
    assert handler.find_unused_parameters is False
    assert handler.bucket_cap_mb == 10
    assert handler.broadcast_buffers is False


def test_find_unused_parameters_default() -> None:
    from types import SimpleNamespace

    args = SimpleNamespace(ddp_find_unused_parameters=None, activation_checkpointing=False)
    assert find_unused_parameters(args, torch.nn.Linear(1, 1)) is True

    class Pretrained(torch.nn.Module):
        config: ClassVar[dict[str, int]] = {}
        is_gradient_checkpointing = True

        def save_pretrained(self, path: str) -> None: ...

    assert find_unused_parameters(args, Pretrained()) is False
    Pretrained.is_gradient_checkpointing = False
    assert find_unused_parameters(args, Pretrained()) is True


def test_a_second_accelerator_with_other_settings_replaces_the_first(make_args) -> None:  # type: ignore[no-untyped-def]
    assert build_accelerator(make_args(bf16=True)).mixed_precision == "bf16"
    assert build_accelerator(make_args()).mixed_precision == "no"
    assert AcceleratorState().mixed_precision == "no"


def test_full_eval_dtype(make_args) -> None:  # type: ignore[no-untyped-def]
    assert full_eval_dtype(make_args(bf16_full_eval=True)) == torch.bfloat16
    assert full_eval_dtype(make_args()) is None


def test_launcher_mixed_precision_is_the_default(make_args, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    assert build_accelerator(make_args()).mixed_precision == "bf16"


def _dataloader_config_on(
    make_args: Callable[..., Any], device: str, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> Any:
    """The DataLoaderConfiguration built for args whose device setup reports `device`."""
    import dataclasses
    from types import SimpleNamespace

    from trainer_dist import accelerator as accelerator_mod

    args = make_args(**{"use_cpu": False, **overrides})
    real = accelerator_mod.device_setup_of(args)
    # "npu" is a torch device type only once torch_npu is installed: a stand-in with its `.type`.
    fake_device: Any = torch.device(device) if device != "npu" else SimpleNamespace(type="npu")
    faked = dataclasses.replace(real, device=fake_device)
    monkeypatch.setattr(accelerator_mod, "device_setup_of", lambda _args: faked)
    return build_accelerator_kwargs(args)["dataloader_config"]


@pytest.mark.parametrize("device", ["cuda", "xpu", "npu"])
def test_pinned_memory_means_non_blocking_copies_on_accelerators(
    make_args: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, device: str
) -> None:
    assert _dataloader_config_on(make_args, device, monkeypatch).non_blocking is True


@pytest.mark.parametrize(
    ("device", "overrides"),
    [
        ("cpu", {}),
        ("mps", {}),
        ("cuda", {"dataloader_pin_memory": False}),
        ("cpu", {"use_cpu": True}),
    ],
)
def test_blocking_copies_without_an_accelerator_or_pinned_memory(
    make_args: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    overrides: dict[str, Any],
) -> None:
    assert _dataloader_config_on(make_args, device, monkeypatch, **overrides).non_blocking is False


def test_explicit_non_blocking_is_kept_on_cpu(
    make_args: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _dataloader_config_on(
        make_args, "cpu", monkeypatch, accelerator_config={"non_blocking": True}
    )
    assert config.non_blocking is True
