"""Mixed precision and TF32: what `fp16`/`bf16`/`tf32` mean on this machine."""

from __future__ import annotations

import os
from typing import Any

import torch

from trainer_dist.errors import UnsupportedSetupError

# Devices on which accelerate runs fp16 autocast with a gradient scaler.
FP16_DEVICE_TYPES = ("cuda", "xpu", "npu", "mlu", "musa", "hpu", "sdaa", "mps")


def resolve_mixed_precision(args: Any) -> str:
    """The accelerate `mixed_precision` for `args`: "fp16", "bf16", or the launcher's choice.

    As transformers: `ACCELERATE_MIXED_PRECISION` (set by `accelerate launch`) is the
    default and `fp16`/`bf16` override it.
    """
    if getattr(args, "fp16", False):
        return "fp16"
    if getattr(args, "bf16", False):
        return "bf16"
    return os.environ.get("ACCELERATE_MIXED_PRECISION", "no")


def full_eval_dtype(args: Any) -> torch.dtype | None:
    """The dtype the model is cast to for evaluation outside training, if any."""
    if getattr(args, "fp16_full_eval", False):
        return torch.float16
    if getattr(args, "bf16_full_eval", False):
        return torch.bfloat16
    return None


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast works on `device`."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # CPU autocast supports bf16; other accelerators are left to accelerate's own checks.
    return True


def check_mixed_precision(args: Any, device: torch.device) -> None:
    """Raise `UnsupportedSetupError` for a precision `device` cannot train with.

    accelerate silently trains in fp32 when fp16 is asked for on a CPU; we refuse instead.
    """
    if getattr(args, "fp16", False) and getattr(args, "bf16", False):
        raise UnsupportedSetupError("fp16", True, "fp16 and bf16 cannot both be True")
    if getattr(args, "fp16", False) and device.type not in FP16_DEVICE_TYPES:
        raise UnsupportedSetupError(
            "fp16",
            True,
            f"fp16 mixed precision needs a GPU-type device {FP16_DEVICE_TYPES}, but this process "
            f"runs on {device.type!r} (accelerate would silently train in fp32); "
            "use bf16=True on CPU",
        )
    for name in ("bf16", "bf16_full_eval"):
        if getattr(args, name, False) and not bf16_supported(device):
            raise UnsupportedSetupError(
                name,
                True,
                f"the {device.type} device here does not support bfloat16 (needs Ampere+)",
            )


def bf16_accelerator_available() -> bool:
    """Whether a non-CPU device here trains in bf16 (transformers' is_torch_bf16_gpu_available)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    for name in ("xpu", "npu", "mlu", "musa", "hpu"):
        module = getattr(torch, name, None)
        if (
            module is not None
            and callable(getattr(module, "is_available", None))
            and module.is_available()
        ):
            return True
    return torch.backends.mps.is_available()


def check_bf16_hardware(args: Any, use_cpu: bool) -> None:
    """transformers' construction-time check: bf16 off the CPU needs a bf16-capable accelerator."""
    for name in ("bf16", "bf16_full_eval"):
        if getattr(args, name, False) and not use_cpu and not bf16_accelerator_available():
            reason = (
                "Your setup doesn't support bf16/gpu. You need to assign use_cpu if you want to "
                "train the model on CPU."
            )
            if torch.cuda.is_available():
                reason += " You need Ampere+ GPU with cuda>=11.0."
            raise UnsupportedSetupError(name, True, reason)


def apply_tf32_setting(args: Any) -> None:
    """`tf32` as transformers applies it; torch_compile turns TF32 on where it helps."""
    tf32 = getattr(args, "tf32", None)
    compile_wants_tf32 = (tf32 is None and not getattr(args, "fp16", False)) or getattr(
        args, "bf16", False
    )
    if getattr(args, "torch_compile", False) and compile_wants_tf32 and tf32_available():
        _set_tf32(True)
    configure_tf32(tf32)


def tf32_available() -> bool:
    """TF32 needs a CUDA device of compute capability 8.0 (Ampere) or newer."""
    if not torch.cuda.is_available() or torch.version.cuda is None:
        return False
    return torch.cuda.get_device_properties(torch.cuda.current_device()).major >= 8


def _has_fp32_precision_api() -> bool:
    # torch >= 2.9 replaces the `allow_tf32` flags; mixing both APIs raises when read.
    return hasattr(torch.backends, "fp32_precision")


def _set_tf32(enable: bool) -> None:
    if _has_fp32_precision_api():
        mode = "tf32" if enable else "ieee"
        # CUDA back-ends only: the global knob would also switch oneDNN (CPU) matmuls
        torch.backends.cuda.matmul.fp32_precision = mode  # type: ignore[attr-defined]
        torch.backends.cudnn.fp32_precision = mode  # type: ignore[attr-defined]
        torch.backends.cudnn.conv.fp32_precision = mode  # type: ignore[attr-defined]
        torch.backends.cudnn.rnn.fp32_precision = mode  # type: ignore[attr-defined]
    else:
        torch.backends.cuda.matmul.allow_tf32 = enable
        torch.backends.cudnn.allow_tf32 = enable


def configure_tf32(tf32: bool | None) -> None:
    """Apply `TrainingArguments.tf32`: None leaves torch's defaults alone.

    True without an Ampere+ CUDA device raises `UnsupportedSetupError`; False is
    applied where CUDA exists and is a no-op elsewhere (there is nothing to turn off).
    """
    if tf32 is None:
        return
    if tf32:
        if not tf32_available():
            raise UnsupportedSetupError(
                "tf32", True, "TF32 needs an Ampere or newer NVIDIA GPU with CUDA >= 11"
            )
        _set_tf32(True)
    elif torch.cuda.is_available():
        _set_tf32(False)


def tf32_enabled() -> bool:
    """Whether CUDA matmuls currently run in TF32."""
    if _has_fp32_precision_api():
        mode = str(torch.backends.cuda.matmul.fp32_precision)  # type: ignore[attr-defined]
        if mode == "none":  # "none" inherits the global setting
            mode = str(torch.backends.fp32_precision)  # type: ignore[attr-defined]
        return mode == "tf32"
    return bool(torch.backends.cuda.matmul.allow_tf32)
