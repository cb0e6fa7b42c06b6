"""Fail unless the installed versions are exactly the floors in the constraints file."""

from __future__ import annotations

import importlib.metadata
import sys


def main(path: str) -> int:
    wrong = []
    with open(path, encoding="utf-8") as lines:
        floors = [line.split("#", 1)[0].strip() for line in lines]
    for line in floors:
        if not line:
            continue
        name, _, wanted = line.partition("==")
        got = importlib.metadata.version(name)
        print(f"{name:12} {got}")
        if got != wanted:
            wrong.append(f"{name}: installed {got}, floor {wanted}")
    if wrong:
        print("\n".join(wrong))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
