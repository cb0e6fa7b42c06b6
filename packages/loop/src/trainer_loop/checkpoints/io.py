"""Durable, atomic folder writes: fill a hidden sibling, fsync everything, rename into place.

A crash (or SIGKILL) at any moment leaves either the previous state or the complete new
folder under the final name, never a half-written folder that looks like a checkpoint.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from trainer_loop.checkpoints.names import TMP_PREFIX, TRASH_PREFIX

logger = logging.getLogger(__name__)


def tmp_sibling(final: Path) -> Path:
    """The work folder for `final`; the same name on every process, so all can write into it."""
    return final.with_name(f"{TMP_PREFIX}{final.name}")


def fsync_path(path: Path) -> None:
    """Flush a file or a folder entry table to disk (folders: where the OS allows it)."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders cannot be opened on Windows; nothing more we can do
        return
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():  # a file's data did not reach the disk: never publish it
            raise
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file below `folder`, then the folders themselves (deepest first)."""
    folders = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fsync_path(Path(root, name))
        folders.append(Path(root))
    for sub in reversed(folders):
        fsync_path(sub)


def _lock(final: Path) -> Path:
    return final.with_name(f"{TMP_PREFIX}{final.name}.lock")


def prepare_tmp(final: Path) -> Path:
    """Create an empty work folder for `final`, removing what a crash left behind."""
    tmp = tmp_sibling(final)
    # Tolerant of a second writer doing the same (save_on_each_node on a shared disk).
    remove_leftovers(final.parent)
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp


def remove_leftovers(output_dir: Path) -> None:
    """Delete work folders, claims and trash that killed saves left (of any step) in output_dir.

    Only one save runs at a time in a run folder, so any of them found here is stale; a
    resumed run may never save that step again, and a cut work folder can be large.
    """
    prefixes = (f"{TMP_PREFIX}checkpoint-", f"{TRASH_PREFIX}checkpoint-")
    try:
        names = os.listdir(output_dir)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(prefixes):
            _remove(output_dir / name)


def claim_publication(final: Path) -> bool:
    """True for exactly one caller per folder, even across nodes sharing a disk (mkdir is atomic).

    With `save_on_each_node` every node's main process saves; on a shared disk they all see
    the same work folder, and only one of them may rename it.
    """
    try:
        _lock(final).mkdir()
    except FileExistsError:
        return False
    return True


def release_publication(final: Path) -> None:
    _remove(_lock(final))


def discard(tmp: Path) -> None:
    """Remove a work folder after a failed save; the published checkpoints stay as they were."""
    _remove(tmp)


def publish(tmp: Path, final: Path) -> None:
    """Make the filled work folder `tmp` appear as `final` in one rename.

    An existing `final` (a checkpoint of the same step from an earlier run) is first
    moved aside and deleted only once the new folder is in place. One caller per folder:
    see `claim_publication`.
    """
    fsync_tree(tmp)
    trash = None
    if final.exists() or final.is_symlink():
        trash = final.with_name(f"{TRASH_PREFIX}{final.name}-{os.getpid()}")
        os.replace(final, trash)
    os.replace(tmp, final)
    fsync_path(final.parent)
    if trash is not None:
        _remove(trash)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)
