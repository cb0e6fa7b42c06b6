"""File and folder names of a checkpoint, and the error raised for pickle-based files.

Folder names are those of transformers (`checkpoint-<global_step>`); the file names differ
where transformers writes pickles (`optimizer.pt`, `scheduler.pt`, `rng_state.pth`, ...).
"""

from __future__ import annotations

import re
from pathlib import Path

PREFIX_CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_RE = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
# Work folders live next to the checkpoints but start with a dot, so neither
# `^checkpoint-\d+$` (ours) nor the glob `checkpoint-*` (transformers) ever matches them.
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
ADAPTER_SAFE_WEIGHTS_NAME = "adapter_model.safetensors"
OPTIMIZER_JSON = "optimizer.json"
OPTIMIZER_TENSORS = "optimizer.safetensors"
SCHEDULER_JSON = "scheduler.json"
SCHEDULER_TENSORS = "scheduler.safetensors"
SCALER_JSON = "scaler.json"
SCALER_TENSORS = "scaler.safetensors"
TRAINER_STATE_NAME = "trainer_state.json"
TRAINING_ARGS_NAME = "training_args.json"
# transformers' JIT checkpoints write this file while saving and delete it when done.
INCOMPLETE_SENTINEL = "checkpoint-is-incomplete.txt"

# Files transformers writes with torch.save (pickle). We never open them.
PICKLE_FILES = (
    "optimizer.pt",
    "optimizer.bin",
    "scheduler.pt",
    "scaler.pt",
    "rng_state.pth",
    "training_args.bin",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.bin",
)


def rng_state_name(process_index: int) -> str:
    """One RNG file per process, indexed even for a single process."""
    return f"rng_state_{process_index}.safetensors"


def checkpoint_folder_name(global_step: int) -> str:
    return f"{PREFIX_CHECKPOINT_DIR}-{global_step}"


def checkpoint_step(folder: str | Path) -> int | None:
    """The step of a folder named exactly `checkpoint-<N>`, else None."""
    match = CHECKPOINT_RE.match(Path(folder).name)
    return int(match.group(1)) if match else None


class CheckpointFormatError(ValueError):
    """A checkpoint holds only pickle-based files (written by transformers' Trainer).

    Loading a pickle can execute arbitrary code, so these files are never opened.
    """


def refuse_pickles(folder: Path, what: str, candidates: tuple[str, ...]) -> None:
    """Raise CheckpointFormatError when `folder` has pickle files in place of ours."""
    found = [name for name in candidates if (folder / name).exists()]
    if not found:
        return
    raise CheckpointFormatError(
        f"Cannot load the {what} from {folder}: it holds only pickle-based files "
        f"({', '.join(found)}), as written by transformers' Trainer. This library never "
        "unpickles checkpoint files because a pickle can run arbitrary code. Resume from a "
        "checkpoint written by this library, or start a new run from the weights alone "
        f"(`{SAFE_WEIGHTS_NAME}` or `from_pretrained(folder)`); the optimizer, scheduler and "
        "RNG states of a transformers checkpoint cannot be carried over."
    )
