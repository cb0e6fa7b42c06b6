"""Per-process RNG files (`rng_state_<process_index>.safetensors`) via trainer_dist.rng_state."""

from __future__ import annotations

import logging
from pathlib import Path

from trainer_loop.checkpoints.file_errors import reading, writing
from trainer_loop.checkpoints.names import rng_state_name

logger = logging.getLogger(__name__)


def save_rng(folder: Path, process_index: int) -> None:
    from trainer_dist.rng_state import save_rng_state

    with writing(folder / rng_state_name(process_index)):
        save_rng_state(folder / rng_state_name(process_index))


def load_checkpoint_rng(folder: str | Path, process_index: int) -> bool:
    """Restore python/numpy/torch/accelerator RNGs of this process; False when not saved.

    A missing file is not an error (transformers only logs it): e.g. a checkpoint made with
    fewer processes, or with `save_only_model`. transformers' `rng_state.pth` is never read.
    """
    path = Path(folder) / rng_state_name(process_index)
    if not path.is_file():
        logger.info(
            f"Didn't find an RNG file for process {process_index} in {folder}; if you are resuming "
            "a training launched with a different number of processes, reproducibility is not "
            "guaranteed."
        )
        return False
    from trainer_dist.rng_state import load_rng_state

    with reading(path):
        load_rng_state(path)
    return True
