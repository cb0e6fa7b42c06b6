"""MkDocs hook: content that depends on files other helpers or tools write.

- `<!-- benchmark-results -->` quotes `benchmarks/RESULTS.md` (recorded from `nox -s bench`)
  when the checkout has it, and otherwise says how to produce it: numbers are quoted,
  never written by hand into the docs.
- `<!-- image-if-present: images/x.png "alt text" -->` becomes the image when the file
  exists under docs/, and nothing otherwise (a missing image would fail the strict build).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

RESULTS_MARKER = re.compile(r"^<!--\s*benchmark-results\s*-->\s*$", re.MULTILINE)
IMAGE_MARKER = re.compile(
    r'^<!--\s*image-if-present:\s*(?P<path>\S+)\s+"(?P<alt>[^"]*)"\s*-->\s*$', re.MULTILINE
)
RESULTS = Path("benchmarks") / "RESULTS.md"
MISSING_RESULTS = (
    "!!! note\n"
    "    `benchmarks/RESULTS.md` is not in this checkout yet: run `nox -s bench` to\n"
    "    produce the numbers on your machine.\n"
)


def _demote(markdown: str) -> str:
    """Headings one level down, so the quoted file nests under the page's own headings."""
    return re.sub(r"^(#{1,5}) ", r"##\1 ", markdown, flags=re.MULTILINE)


# `[text](target)` / `![alt](target)` whose target is relative to benchmarks/, not to docs/.
_RELATIVE_LINK = re.compile(r"(!?)\[([^\]]*)\]\((?!https?://|#|mailto:)[^)]*\)")


def _unlink_relative(markdown: str) -> str:
    """Keep a relative link's text and drop the link (it would not resolve inside docs/)."""
    return _RELATIVE_LINK.sub(lambda m: "" if m.group(1) else m.group(2), markdown)


def render_results(repo_root: Path) -> str:
    results = repo_root / RESULTS
    if not results.is_file():
        return MISSING_RESULTS
    text = _unlink_relative(_demote(results.read_text(encoding="utf-8")))
    return f"*Quoted from `{RESULTS.as_posix()}` at build time.*\n\n{text}"


def render_image(docs_dir: Path, page_dir: Path, path: str, alt: str) -> str:
    """The image, linked relative to the page, or nothing when the file is absent."""
    if not (docs_dir / path).is_file():
        return ""
    relative = Path(*[".."] * len(page_dir.parts), path).as_posix() if page_dir.parts else path
    return f"![{alt}]({relative})\n"


def expand(markdown: str, repo_root: Path, docs_dir: Path, page_dir: Path) -> str:
    markdown = RESULTS_MARKER.sub(lambda _m: render_results(repo_root), markdown)
    return IMAGE_MARKER.sub(
        lambda m: render_image(docs_dir, page_dir, m.group("path"), m.group("alt")), markdown
    )


def on_page_markdown(markdown: str, page: Any, config: Any, **_: Any) -> str:
    repo_root = Path(config["config_file_path"]).parent
    page_dir = Path(page.file.src_uri).parent
    return expand(markdown, repo_root, Path(config["docs_dir"]), page_dir)
