"""Model weights in safetensors: saving (plain modules and `save_pretrained` models) and loading.

Weights are only ever read from safetensors files; `pytorch_model.bin` (a pickle) is refused.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from trainer_loop.checkpoints.file_errors import reading, writing
from trainer_loop.checkpoints.names import (
    ADAPTER_SAFE_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    TRAINING_ARGS_NAME,
    refuse_pickles,
)

logger = logging.getLogger(__name__)

_PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "adapter_model.bin")


def unwrap_model(model: Any, accelerator: Any = None) -> Any:
    """The user's module under DDP/DataParallel/torch.compile wrappers."""
    if accelerator is not None:
        return accelerator.unwrap_model(model, keep_torch_compile=False)
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def _has_save_pretrained(model: Any) -> bool:
    # Duck typing: transformers' PreTrainedModel and PEFT models; transformers is never imported.
    return callable(getattr(model, "save_pretrained", None)) and hasattr(model, "config")


def _dedupe_shared(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop exact aliases (tied weights) and copy partial views: safetensors refuses shared memory."""
    seen: set[tuple[Any, ...]] = set()
    kept: dict[str, torch.Tensor] = {}
    storages: dict[int, int] = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach()
        if tensor.numel() == 0 or tensor.device.type == "meta":
            kept[name] = tensor.contiguous()
            continue
        ptr = tensor.untyped_storage().data_ptr()
        view = (
            ptr,
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            tensor.dtype,
        )
        if view in seen:
            continue  # the same tensor under a second name: restored by the model's tying
        seen.add(view)
        storages[ptr] = storages.get(ptr, 0) + 1
        kept[name] = tensor
    return {
        name: (
            t.clone() if t.numel() and storages.get(t.untyped_storage().data_ptr(), 0) > 1 else t
        )
        .cpu()
        .contiguous()
        for name, t in kept.items()
    }


def write_training_args(args: Any, output_dir: Path) -> None:
    """`training_args.json`: the unstructured TrainingArguments (`args.to_dict()`), no pickle."""
    data = args.to_dict() if callable(getattr(args, "to_dict", None)) else dict(vars(args))
    text = json.dumps(data, indent=2, default=str) + "\n"
    with writing(output_dir / TRAINING_ARGS_NAME):
        (output_dir / TRAINING_ARGS_NAME).write_text(text, encoding="utf-8")


def save_model_files(
    model: Any,
    output_dir: str | Path,
    processing_class: Any = None,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    *,
    args: Any = None,
    is_main_process: bool = True,
    accelerator: Any = None,
) -> None:
    """Write the weights (+ config, processing class, `training_args.json` when `args` is given).

    Call it on every process: a `save_pretrained` model may take part in collectives;
    only `is_main_process` writes. Models with `save_pretrained` use it (safetensors);
    plain modules get `model.safetensors` with metadata `{"format": "pt"}` as transformers.
    """
    output_dir = Path(output_dir)
    if is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
    inner = unwrap_model(model, accelerator)
    if _has_save_pretrained(inner):
        kwargs: dict[str, Any] = {"state_dict": state_dict, "is_main_process": is_main_process}
        if "safe_serialization" in inspect.signature(inner.save_pretrained).parameters:
            kwargs["safe_serialization"] = True  # transformers 4.x; 5.x always writes safetensors
        inner.save_pretrained(str(output_dir), **kwargs)
    elif is_main_process:
        logger.info("Trainer.model is not a `PreTrainedModel`, only saving its state dict.")
        weights = state_dict if state_dict is not None else inner.state_dict()
        with writing(output_dir / SAFE_WEIGHTS_NAME):
            save_file(
                _dedupe_shared(weights),
                str(output_dir / SAFE_WEIGHTS_NAME),
                metadata={"format": "pt"},
            )
    if not is_main_process:
        return
    if processing_class is not None:
        processing_class.save_pretrained(str(output_dir))
    if args is not None:
        write_training_args(args, output_dir)


def read_weights(folder: Path) -> dict[str, torch.Tensor] | None:
    """The full state dict stored in `folder` (single or sharded safetensors), or None."""
    single = folder / SAFE_WEIGHTS_NAME
    if single.is_file():
        with reading(single):
            return load_file(str(single), device="cpu")
    index = folder / SAFE_WEIGHTS_INDEX_NAME
    if not index.is_file():
        return None
    weight_map: dict[str, str] = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    weights: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = (folder / shard).resolve()
        if shard_path.parent != folder.resolve():
            raise ValueError(f"Shard {shard!r} in {index} points outside its folder")
        weights.update(load_file(str(shard_path), device="cpu"))
    return weights


def has_weights(folder: Path) -> bool:
    names = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, ADAPTER_SAFE_WEIGHTS_NAME)
    return any((folder / name).is_file() for name in names)


def _warn_after_load(
    model: Any, missing: list[str], unexpected: list[str], loaded: set[str]
) -> None:
    """Warn as transformers does, but stay quiet about tied weights saved once."""
    if missing:
        ignore = getattr(model, "_keys_to_ignore_on_save", None)
        if ignore and set(missing) == set(ignore) and callable(getattr(model, "tie_weights", None)):
            model.tie_weights()
        else:
            current = model.state_dict()
            ptrs = {current[k].untyped_storage().data_ptr() for k in loaded if k in current}
            untied = [k for k in missing if current[k].untyped_storage().data_ptr() not in ptrs]
            if untied:
                logger.warning(f"There were missing keys in the checkpoint model loaded: {untied}.")
    if unexpected:
        logger.warning(f"There were unexpected keys in the checkpoint model loaded: {unexpected}.")


def _load_adapter(model: Any, folder: Path) -> bool:
    if not (folder / ADAPTER_SAFE_WEIGHTS_NAME).is_file():
        return False
    if not callable(getattr(model, "load_adapter", None)):
        logger.warning(f"{folder} holds adapter weights but the model cannot load adapters.")
        return False
    active = getattr(model, "active_adapters", ["default"])[0]
    model.load_adapter(str(folder), active, is_trainable=True)
    return True


def load_model_weights(model: Any, folder: str | Path, *, accelerator: Any = None) -> bool:
    """Load safetensors weights from `folder` into `model` (non-strict); False when none found.

    Raises CheckpointFormatError when only pickled weights (`pytorch_model.bin`) are there.
    """
    folder = Path(folder)
    inner = unwrap_model(model, accelerator)
    weights = read_weights(folder)
    if weights is None:
        if _load_adapter(inner, folder):
            return True
        refuse_pickles(folder, "model weights", _PICKLED_WEIGHTS)
        return False
    result = inner.load_state_dict(weights, strict=False)
    _warn_after_load(inner, list(result.missing_keys), list(result.unexpected_keys), set(weights))
    return True


def load_checkpoint_model(model: Any, folder: str | Path, *, accelerator: Any = None) -> None:
    """Resume: load the checkpoint's weights; ValueError as transformers when there are none."""
    folder = Path(folder)
    if not folder.is_dir() or not load_model_weights(model, folder, accelerator=accelerator):
        raise ValueError(f"Can't find a valid checkpoint at {folder}")
    logger.info(f"Loading model from {folder}.")


def load_best_model(
    model: Any, best_model_checkpoint: str | Path, *, accelerator: Any = None
) -> None:
    """`load_best_model_at_end`: load the best checkpoint's weights, or warn as transformers."""
    folder = Path(best_model_checkpoint)
    if not load_model_weights(model, folder, accelerator=accelerator):
        logger.warning(
            f"Could not locate the best model at {folder / SAFE_WEIGHTS_NAME}, if you are running a "
            "distributed training on multiple nodes, you should activate `--save_on_each_node`."
        )
