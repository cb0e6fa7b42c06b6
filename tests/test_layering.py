"""The layering contract is enforced by import-linter, and it really bites.

Each test copies the packages' sources, plants one forbidden import, and
checks that `lint-imports` with the project's own configuration fails.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = {
    "trainer_args": ROOT / "packages/args/src/trainer_args",
    "trainer_dist": ROOT / "packages/dist/src/trainer_dist",
    "trainer_loop": ROOT / "packages/loop/src/trainer_loop",
    "trainer_seq2seq": ROOT / "packages/seq2seq/src/trainer_seq2seq",
    "trainer": ROOT / "packages/trainer/src/trainer",
}
LINT_IMPORTS = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which(
    "lint-imports"
)

pytestmark = pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed")


def _lint(tmp_path: pathlib.Path, plant: dict[str, str]) -> subprocess.CompletedProcess[str]:
    src = tmp_path / "src"
    for name, folder in SOURCES.items():
        shutil.copytree(folder, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for relpath, line in plant.items():
        target = src / relpath
        target.write_text(target.read_text() + f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_clean_tree_passes(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr


def test_torch_inside_trainer_args_fails(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, {"trainer_args/__init__.py": "import torch"})
    assert result.returncode != 0
    assert "trainer_args needs no torch" in result.stdout
    assert "BROKEN" in result.stdout


def test_upward_import_fails(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, {"trainer_dist/__init__.py": "import trainer_loop"})
    assert result.returncode != 0
    assert "imports point down only" in result.stdout


def test_transformers_import_fails(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, {"trainer_loop/__init__.py": "import transformers"})
    assert result.returncode != 0
    assert "transformers is never a dependency" in result.stdout


def test_accelerate_inside_trainer_loop_fails(tmp_path: pathlib.Path) -> None:
    result = _lint(tmp_path, {"trainer_loop/data/loaders.py": "import accelerate"})
    assert result.returncode != 0
    assert "accelerate is used only through trainer_dist" in result.stdout
    assert "BROKEN" in result.stdout
