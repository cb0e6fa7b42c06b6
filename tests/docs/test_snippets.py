"""Every ```python block of docs/**/*.md runs, so the documentation cannot rot.

Each block runs on its own: a fresh namespace (`__name__ == "__main__"`), a fresh
temporary working directory, accelerate's process-wide state reset afterwards. A block
is skipped only when the line right before its opening fence is the opt-out marker
`<!-- snippet: skip -->`; keep those rare (shell commands belong in ```bash blocks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.torch_threads import one_torch_thread_fixture

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIP_MARKER = "<!-- snippet: skip -->"
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\s`]*)[^`]*$")
PYTHON_INFOS = frozenset({"python", "py", "python3"})


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    skipped: bool

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(DOCS).as_posix()}:{self.line}"


def _blocks(text: str) -> list[tuple[int, str, str, str]]:
    """`(fence line index, info string, previous line, code)` for each fenced block."""
    lines = text.splitlines()
    found = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, indent = match.group("fence"), len(match.group("indent"))
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = "\n".join(line[indent:] for line in lines[index + 1 : end])
        previous = lines[index - 1].strip() if index > 0 else ""
        found.append((index, match.group("info").lower(), previous, body + "\n"))
        index = end + 1
    return found


def snippets_in(path: Path) -> list[Snippet]:
    text = path.read_text(encoding="utf-8")
    return [
        Snippet(path, index + 1, code, skipped=previous == SKIP_MARKER)
        for index, info, previous, code in _blocks(text)
        if info in PYTHON_INFOS
    ]


def all_snippets(docs: Path = DOCS) -> list[Snippet]:
    return [s for page in sorted(docs.rglob("*.md")) for s in snippets_in(page)]


# Opt-outs are for code that cannot run here (several GPUs, a network service).
MAX_SKIPPED = 3
SNIPPETS = all_snippets()


# Tiny models: one thread is fastest and does not crawl when the cores are shared.
__all__ = ["one_torch_thread_fixture"]  # autouse: every test of this module


def _reset_process_state() -> None:
    # Several Trainers in one process (as in a notebook) need accelerate's singletons reset.
    from trainer_dist import reset_accelerate_state

    reset_accelerate_state()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.id for s in SNIPPETS])
def test_snippet_runs(snippet: Snippet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if snippet.skipped:
        pytest.skip(f"{snippet.id} is marked {SKIP_MARKER}")
    monkeypatch.chdir(tmp_path)
    code = compile(snippet.code, str(snippet.path) + f" (block at line {snippet.line})", "exec")
    namespace = {"__name__": "__main__"}
    try:
        exec(code, namespace)
    finally:
        _reset_process_state()


def test_docs_have_snippets_and_few_opt_outs() -> None:
    assert len(SNIPPETS) >= 10, "the extractor found too few ```python blocks in docs/"
    skipped = [s.id for s in SNIPPETS if s.skipped]
    assert len(skipped) <= MAX_SKIPPED, f"too many opted-out snippets: {skipped}"


def test_extractor_reads_fences_and_the_opt_out_marker(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n\n"
        f"{SKIP_MARKER}\n```python\nraise SystemExit\n```\n\n"
        "!!! note\n    ```py\n    y = 2\n    ```\n",
        encoding="utf-8",
    )
    found = snippets_in(page)
    assert [(s.line, s.code, s.skipped) for s in found] == [
        (3, "x = 1\n", False),
        (12, "raise SystemExit\n", True),
        (17, "y = 2\n", False),
    ]
