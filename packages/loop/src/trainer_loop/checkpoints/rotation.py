"""Finding, ordering and deleting checkpoint folders, with transformers' rules.

Only folders named exactly `checkpoint-<N>` directly inside `output_dir` are considered;
symlinks are never deleted, so rotation cannot reach outside `output_dir`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from trainer_loop.checkpoints.model_files import has_weights
from trainer_loop.checkpoints.names import (
    INCOMPLETE_SENTINEL,
    PICKLE_FILES,
    TRAINER_STATE_NAME,
    TRASH_PREFIX,
    checkpoint_step,
)

logger = logging.getLogger(__name__)
_warned_mtime = False


def is_complete_checkpoint(folder: str | Path) -> bool:
    """A `checkpoint-N` folder with weights and a readable `trainer_state.json`.

    Ours are renamed into place only once complete; this also rejects the partial
    folders other writers leave after a crash (transformers' JIT sentinel, a cut
    `trainer_state.json`). transformers checkpoints count as complete: loading them
    then says clearly why their pickles are refused.
    """
    folder = Path(folder)
    if checkpoint_step(folder) is None or not folder.is_dir():
        return False
    if (folder / INCOMPLETE_SENTINEL).exists():
        return False
    if not (has_weights(folder) or any((folder / n).is_file() for n in PICKLE_FILES)):
        return False
    try:
        json.loads((folder / TRAINER_STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _checkpoint_names(output_dir: Path) -> list[str]:
    try:
        names = os.listdir(output_dir)
    except FileNotFoundError:
        return []
    return [n for n in names if checkpoint_step(n) is not None and (output_dir / n).is_dir()]


def get_last_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step (None if there is none).

    Incomplete ones (e.g. cut by a crash while another tool wrote them) are skipped
    with a warning.
    """
    output_dir = Path(output_dir)
    names = sorted(
        _checkpoint_names(output_dir), key=lambda n: checkpoint_step(n) or 0, reverse=True
    )
    for name in names:
        if is_complete_checkpoint(output_dir / name):
            return output_dir / name
        logger.warning(f"Skipping incomplete checkpoint {output_dir / name}.")
    return None


def _same(a: str | Path, b: str | Path) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def _mtime(path: Path) -> float | None:
    """The folder's mtime; None when it is gone since the listing (another process sharing
    the folder, e.g. with `save_on_each_node` on a shared disk, rotated it away)."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def sorted_checkpoints(
    output_dir: str | Path, best_model_checkpoint: str | Path | None = None, use_mtime: bool = False
) -> list[Path]:
    """Checkpoint folders, oldest first, as transformers' `sort_checkpoints`.

    By step, or by mtime (falling back to steps when all mtimes lie within 1 s, which some
    filesystems fake). The best checkpoint moves to the second-to-last place so that it
    survives rotation while the newest stays last.
    """
    global _warned_mtime
    output_dir = Path(output_dir)
    paths = [
        output_dir / n for n in _checkpoint_names(output_dir) if not (output_dir / n).is_symlink()
    ]
    if use_mtime:
        keyed = sorted((mtime, str(p)) for p in paths if (mtime := _mtime(p)) is not None)
        if len(keyed) > 1 and keyed[-1][0] - keyed[0][0] < 1.0:
            if not _warned_mtime:
                logger.warning(
                    "mtime may not be reliable on this filesystem, falling back to numerical ordering"
                )
                _warned_mtime = True
            return sorted_checkpoints(output_dir, best_model_checkpoint, use_mtime=False)
        ordered = [Path(p) for _, p in keyed]
    else:
        ordered = sorted(paths, key=lambda p: (checkpoint_step(p), str(p)))
    if best_model_checkpoint is not None and ordered:
        best = [p for p in ordered if _same(p, best_model_checkpoint)]
        if best and not _same(ordered[-1], best[0]):
            newest = ordered[-1]
            ordered = [p for p in ordered if p not in (best[0], newest)] + [best[0], newest]
    return ordered


def _delete_checkpoint(path: Path, output_dir: Path, level: int = logging.DEBUG) -> None:
    """rmtree a checkpoint folder, refusing anything that is not a real folder of output_dir.

    Rotation during training is quiet (`level` DEBUG), as in transformers; the end-of-training
    clean-up of `save_total_limit=1` says what it deletes (INFO).
    """
    if path.is_symlink() or checkpoint_step(path) is None:
        logger.warning(f"Not deleting {path}: not a checkpoint folder.")
        return
    if path.resolve().parent != output_dir.resolve():
        logger.warning(f"Not deleting {path}: it lies outside {output_dir}.")
        return
    logger.log(level, f"Deleting older checkpoint [{path}] due to args.save_total_limit")
    trash = path.with_name(f"{TRASH_PREFIX}{path.name}-{os.getpid()}")
    try:
        os.replace(path, trash)  # one atomic step: a cut deletion never leaves a checkpoint-N
    except FileNotFoundError:
        return  # another process rotating the same shared folder got there first
    shutil.rmtree(trash, ignore_errors=True)


def rotate_checkpoints(
    output_dir: str | Path,
    save_total_limit: int | None,
    best_model_checkpoint: str | Path | None = None,
    *,
    use_mtime: bool = True,
    should_save: bool = True,
) -> list[Path]:
    """Delete the oldest checkpoints beyond `save_total_limit`; returns the deleted folders.

    The newest and the best checkpoint are always kept (so up to two may remain with a
    limit of 1). Call it on the processes with `args.should_save` (the main process, or
    each node's main process with `save_on_each_node`), as transformers does.
    """
    if not should_save or save_total_limit is None or save_total_limit <= 0:
        return []
    output_dir = Path(output_dir)
    checkpoints = sorted_checkpoints(output_dir, use_mtime=use_mtime)
    if len(checkpoints) <= save_total_limit:
        return []
    protected = [checkpoints[-1]]
    if best_model_checkpoint is not None:
        protected.append(Path(best_model_checkpoint))
    num_to_keep = max(save_total_limit, len({os.path.abspath(p) for p in protected}))
    remaining = len(checkpoints)
    deleted = []
    for checkpoint in checkpoints:
        if remaining <= num_to_keep:
            break
        if not any(_same(checkpoint, p) for p in protected):
            _delete_checkpoint(checkpoint, output_dir)
            deleted.append(checkpoint)
            remaining -= 1
    return deleted


def prune_checkpoints_at_train_end(
    output_dir: str | Path,
    *,
    save_total_limit: int | None,
    best_model_checkpoint: str | Path | None,
    should_save: bool = True,
) -> list[Path]:
    """After training, `save_total_limit=1` with a best checkpoint keeps only the best one."""
    if not should_save or best_model_checkpoint is None or save_total_limit != 1:
        return []
    if not Path(best_model_checkpoint).is_dir():
        return []
    output_dir = Path(output_dir)
    deleted = []
    for checkpoint in sorted_checkpoints(output_dir, best_model_checkpoint):
        try:
            is_best = os.path.samefile(checkpoint, best_model_checkpoint)
        except FileNotFoundError:
            continue  # deleted since the listing by another process pruning the same folder
        if not is_best:
            _delete_checkpoint(checkpoint, output_dir, logging.INFO)
            deleted.append(checkpoint)
    return deleted
