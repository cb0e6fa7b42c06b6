"""Install each built wheel alone into a fresh venv and import it.

Usage: python check_wheels.py DIST_DIR TORCH_VERSION

Each venv gets only the wheel's declared dependencies (the sibling packages
are found in DIST_DIR); torch is installed first, pinned, where needed.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tempfile
import venv
import zipfile

IMPORTS = {
    "trainer_args": "trainer_args",
    "trainer_dist": "trainer_dist",
    "trainer_loop": "trainer_loop",
    "trainer_seq2seq": "trainer_seq2seq",
    "trainer": "trainer",
}


def _requires(wheel: pathlib.Path) -> list[str]:
    """The project's own distributions that `wheel` declares, as import-style names."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(meta).decode().splitlines()
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]
    found = [re.split(r"[\s\[<>=!~;(]", name, maxsplit=1)[0].replace("-", "_") for name in names]
    return [name for name in found if name in IMPORTS]


def _closure(wheel: pathlib.Path, wheels: dict[str, pathlib.Path]) -> list[pathlib.Path]:
    """`wheel` and every sibling wheel it needs, directly or through another sibling."""
    needed, todo = [wheel], list(_requires(wheel))
    while todo:
        sibling = wheels[todo.pop()]
        if sibling not in needed:
            needed.append(sibling)
            todo += _requires(sibling)
    return needed


def check(wheel: pathlib.Path, wheels: dict[str, pathlib.Path], torch: str) -> None:
    dist_name = wheel.name.split("-")[0]
    module = IMPORTS[dist_name]
    with tempfile.TemporaryDirectory() as tmp:
        venv.create(tmp, with_pip=True)
        py = str(pathlib.Path(tmp) / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if module != "trainer_args":
            subprocess.run([*pip, f"torch=={torch}"], check=True)
        # Our siblings are given as files: PyPI holds unrelated projects named
        # `trainer` and `trainer-loop` that an index lookup would pick instead.
        files = [str(path) for path in _closure(wheel, wheels)]
        subprocess.run([*pip, *files], check=True)
        code = (
            f"import importlib, sys; m = importlib.import_module({module!r}); "
            f"print({dist_name!r}, m.__version__); "
            "assert 'torch' not in sys.modules or m.__name__ != 'trainer_args', 'trainer_args imported torch'"
        )
        subprocess.run([py, "-c", code], check=True)


def main() -> int:
    dist_dir = pathlib.Path(sys.argv[1])
    torch = sys.argv[2]
    wheels = sorted(dist_dir.glob("*.whl"))
    sdists = sorted(dist_dir.glob("*.tar.gz"))
    if len(wheels) != len(IMPORTS) or len(sdists) != len(IMPORTS):
        print(f"expected {len(IMPORTS)} wheels and sdists, got {wheels} {sdists}")
        return 1
    by_name = {wheel.name.split("-")[0]: wheel for wheel in wheels}
    for wheel in wheels:
        check(wheel, by_name, torch)
    print(f"{len(wheels)} wheels installed and imported, {len(sdists)} sdists built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
