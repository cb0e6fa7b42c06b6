"""setup_devices on this (CPU) machine and accelerate's singleton handling."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate import PartialState
from accelerate.utils import DistributedType

from trainer_args import ParallelMode
from trainer_dist.devices import reset_accelerate_state, setup_devices
from trainer_dist.errors import UnsupportedSetupError


def _ns(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "use_cpu": True,
        "ddp_backend": None,
        "ddp_timeout": 1800,
        "accelerator_config": None,
        "deepspeed": None,
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_cpu_setup() -> None:
    setup = setup_devices(_ns())
    assert setup.device == torch.device("cpu")
    assert setup.n_gpu == 0
    assert setup.parallel_mode is ParallelMode.NOT_PARALLEL
    assert setup.distributed_state.distributed_type == DistributedType.NO
    assert setup.distributed_state.num_processes == 1


def test_without_use_cpu_picks_the_best_device_here() -> None:
    setup = setup_devices(_ns(use_cpu=False))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert setup.device.type == expected
    assert setup.n_gpu == torch.cuda.device_count()


def test_training_arguments_properties_use_setup_devices(make_args) -> None:  # type: ignore[no-untyped-def]
    args = make_args()
    assert args.device == torch.device("cpu")
    assert args.n_gpu == 0
    assert args.parallel_mode is ParallelMode.NOT_PARALLEL
    assert args.distributed_state is PartialState() or args.distributed_state.num_processes == 1


def test_ddp_backend_in_an_unlaunched_process_is_harmless() -> None:
    # transformers fails here with "Default process group has not been initialized"
    setup = setup_devices(_ns(ddp_backend="gloo"))
    assert setup.parallel_mode is ParallelMode.NOT_PARALLEL


def test_use_configured_state_needs_an_existing_state() -> None:
    reset_accelerate_state()
    with pytest.raises(UnsupportedSetupError, match="use_configured_state"):
        setup_devices(_ns(accelerator_config={"use_configured_state": True}))


def test_use_configured_state_reuses_the_existing_state() -> None:
    reset_accelerate_state()
    PartialState(cpu=True)
    PartialState._shared_state["marker"] = 1  # survives only if nothing was reset
    setup = setup_devices(_ns(accelerator_config={"use_configured_state": True}))
    assert PartialState._shared_state.get("marker") == 1
    assert setup.device.type == "cpu"


def test_a_new_setup_resets_the_previous_state() -> None:
    PartialState(cpu=True)
    PartialState._shared_state["marker"] = 1
    setup_devices(_ns())
    assert "marker" not in PartialState._shared_state


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="checks the CPU-only error",
)
@pytest.mark.parametrize("flag", ["bf16", "bf16_full_eval"])
def test_bf16_without_use_cpu_on_a_cpu_only_machine(flag: str) -> None:
    with pytest.raises(UnsupportedSetupError, match="You need to assign use_cpu") as info:
        setup_devices(_ns(use_cpu=False, **{flag: True}))
    assert info.value.argument == flag
    setup_devices(_ns(use_cpu=True, **{flag: True}))  # fine on the CPU


@pytest.mark.reference
@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(),
    reason="checks the CPU-only error",
)
@pytest.mark.parametrize("flag", ["bf16", "bf16_full_eval"])
def test_bf16_without_use_cpu_is_refused_with_transformers_message(
    flag: str, tmp_path: Path
) -> None:
    """transformers refuses the same setting at TrainingArguments construction; ours names the
    argument, then says what transformers says (and accepts it with use_cpu, as it does)."""
    transformers = pytest.importorskip("transformers")
    with pytest.raises(ValueError) as theirs:
        transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=False, **{flag: True})
    with pytest.raises(UnsupportedSetupError) as ours:
        setup_devices(_ns(use_cpu=False, **{flag: True}))
    assert str(ours.value) == f"{flag}=True: cannot be used here: {theirs.value}"
    transformers.TrainingArguments(output_dir=str(tmp_path), use_cpu=True, **{flag: True})
    setup_devices(_ns(use_cpu=True, **{flag: True}))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_tf32_is_checked_at_device_setup() -> None:
    with pytest.raises(UnsupportedSetupError, match="tf32"):
        setup_devices(_ns(tf32=True))


def test_launched_processes_without_an_accelerator_run_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torchrun on a CPU-only machine without --use_cpu still forms one CPU job."""
    from trainer_args import TrainingArguments
    from trainer_dist import devices

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(devices, "_accelerator_available", lambda: False)
    kwargs = devices._partial_state_kwargs(TrainingArguments(output_dir="out", use_cpu=False))
    assert kwargs["cpu"] is True
    monkeypatch.setattr(devices, "_accelerator_available", lambda: True)
    kwargs = devices._partial_state_kwargs(TrainingArguments(output_dir="out", use_cpu=False))
    assert "cpu" not in kwargs
