"""MkDocs hook: the `--help` output of the command-line tools, captured at build time.

`<!-- cli-help: trainer-args -->` or `<!-- cli-help: trainer -->` becomes one text block per
command: the top-level help, then each subcommand's. The commands run in-process through
their `main(argv)` functions, so the page shows exactly what the installed code prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

MARKER = re.compile(r"^<!--\s*cli-help:\s*([\w-]+)\s*-->\s*$", re.MULTILINE)
COLUMNS = "88"  # argparse wraps to the terminal width; fix it so builds are reproducible


def _trainer_args_commands() -> tuple[Callable[[Sequence[str]], int], list[str]]:
    from trainer_args import cli

    return cli.main, list(cli.COMMANDS)


def _trainer_commands() -> tuple[Callable[[Sequence[str]], int], list[str]]:
    from trainer import cli

    parser = cli.build_parser()
    subparsers = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )  # argparse has no public accessor for the subcommands
    return cli.main, list(subparsers.choices)


PROGRAMS: dict[str, Callable[[], tuple[Callable[[Sequence[str]], int], list[str]]]] = {
    "trainer-args": _trainer_args_commands,
    "trainer": _trainer_commands,
}


@contextlib.contextmanager
def _fixed_width() -> Iterator[None]:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        yield
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def capture_help(main: Callable[[Sequence[str]], Any], argv: list[str]) -> str:
    """What `main(argv)` prints to stdout (argparse's --help exits; that is expected)."""
    out = io.StringIO()
    with _fixed_width(), contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(argv)
    return out.getvalue().rstrip() + "\n"


def help_texts(program: str) -> list[tuple[str, str]]:
    """`(command line, help text)` for the program and each of its subcommands."""
    main, commands = PROGRAMS[program]()
    texts = [(f"{program} --help", capture_help(main, ["--help"]))]
    for command in commands:
        texts.append((f"{program} {command} --help", capture_help(main, [command, "--help"])))
    return texts


def render(program: str) -> str:
    parts = []
    for command_line, text in help_texts(program):
        parts.append(f"### `{command_line}`\n\n```text\n{text}```\n")
    return "\n".join(parts)


def expand(markdown: str) -> str:
    return MARKER.sub(lambda m: render(m.group(1)), markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return expand(markdown)
