"""Fail unless ruff (lint and format) and mypy see every Python file of every package.

    python .ci/check_lint_coverage.py

Ruff's default exclude list once held `dist`, so packages/dist/ was silently never linted
while `ruff check .` passed. This asks the tools themselves which files they would read:
- ruff check: `ruff check --show-files .` must list every packages/*/src/**/*.py;
- ruff format: `ruff format --check --force-exclude FILES` must count every such file
  (a file its exclusions drop is not counted);
- mypy: `files` in pyproject.toml's [tool.mypy] must cover each packages/*/src, and
  no `exclude` may match a file of it.
Run from anywhere; it works on the repository this file is in.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


def package_sources() -> dict[str, list[Path]]:
    """{package folder name: its Python files under src/}, for every packages/*/src."""
    sources = {
        package.name: sorted((package / "src").rglob("*.py"))
        for package in sorted((ROOT / "packages").iterdir())
        if (package / "src").is_dir()
    }
    if not sources:
        sys.exit(f"no packages/*/src found under {ROOT}")
    return sources


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ruff", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def missing_from_ruff_check(sources: dict[str, list[Path]]) -> list[str]:
    done = ruff("check", "--show-files", ".")
    if done.returncode != 0:
        sys.exit(f"ruff check --show-files failed:\n{done.stdout}{done.stderr}")
    shown = {Path(line.strip()).resolve() for line in done.stdout.splitlines() if line.strip()}
    return [
        str(path.relative_to(ROOT))
        for files in sources.values()
        for path in files
        if path.resolve() not in shown
    ]


def missing_from_ruff_format(sources: dict[str, list[Path]]) -> list[str]:
    problems = []
    for name, files in sources.items():
        done = ruff("format", "--check", "--force-exclude", *map(str, files))
        counted = sum(
            int(n)
            for n in re.findall(
                r"(\d+) files? (?:already formatted|would be reformatted)", done.stdout
            )
        )
        if counted != len(files):
            problems.append(
                f"packages/{name}/src: ruff format checks {counted} of {len(files)} files\n"
                f"{done.stdout}{done.stderr}"
            )
    return problems


def missing_from_mypy(sources: dict[str, list[Path]]) -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    roots = [(ROOT / entry).resolve() for entry in config.get("files", [])]
    excludes = config.get("exclude", [])
    excludes = [excludes] if isinstance(excludes, str) else excludes
    problems = []
    for files in sources.values():
        for path in files:
            relative = path.relative_to(ROOT).as_posix()
            if not any(path.resolve().is_relative_to(root) for root in roots):
                problems.append(f"{relative}: not under any [tool.mypy] files entry")
            elif any(re.search(pattern, relative) for pattern in excludes):
                problems.append(f"{relative}: matched by a [tool.mypy] exclude pattern")
    return problems


def main() -> int:
    sources = package_sources()
    failures = {
        "ruff check does not lint": missing_from_ruff_check(sources),
        "ruff format does not check": missing_from_ruff_format(sources),
        "mypy does not type-check": missing_from_mypy(sources),
    }
    bad = False
    for what, problems in failures.items():
        if problems:
            bad = True
            print(f"{what}:", *problems, sep="\n  ")
    if bad:
        return 1
    counts = ", ".join(f"{name} {len(files)}" for name, files in sources.items())
    print(f"ruff check, ruff format and mypy cover every package's sources ({counts} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
