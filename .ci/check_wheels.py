"""Install each built wheel alone into a fresh venv and import it.

Usage: python check_wheels.py DIST_DIR TORCH_VERSION

Each venv gets only the wheel's declared dependencies (the sibling packages
are found in DIST_DIR); torch is installed first, pinned, where needed.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import tempfile
import venv

IMPORTS = {
    "trainer_args": "trainer_args",
    "trainer_dist": "trainer_dist",
    "trainer_loop": "trainer_loop",
    "trainer_seq2seq": "trainer_seq2seq",
    "trainer": "trainer",
}


def check(wheel: pathlib.Path, dist_dir: pathlib.Path, torch: str) -> None:
    dist_name = wheel.name.split("-")[0]
    module = IMPORTS[dist_name]
    with tempfile.TemporaryDirectory() as tmp:
        venv.create(tmp, with_pip=True)
        py = str(pathlib.Path(tmp) / "bin" / "python")
        pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if module != "trainer_args":
            subprocess.run([*pip, f"torch=={torch}"], check=True)
        subprocess.run([*pip, "--find-links", str(dist_dir), str(wheel)], check=True)
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
    for wheel in wheels:
        check(wheel, dist_dir, torch)
    print(f"{len(wheels)} wheels installed and imported, {len(sdists)} sdists built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
