"""The API reference covers the code: every arguments field with its default, every public name.

The hook functions are checked directly (fast, no MkDocs needed); one module-scoped
fixture also runs the real `mkdocs build --strict` when MkDocs and its plugins are
installed (they are in the `docs` nox session's dependencies, not the `tests` session's)
and the built pages are checked.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PACKAGES = ("trainer_args", "trainer_dist", "trainer_loop", "trainer_seq2seq", "trainer")
ARGS_CLASSES = ("TrainingArguments", "Seq2SeqTrainingArguments")
BUILD_TIMEOUT_S = 600


def _hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"docs_hook_{name}", DOCS / "hooks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args_class(name: str) -> type:
    return getattr(importlib.import_module("trainer_args"), name)  # type: ignore[no-any-return]


def _user_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [f for f in attrs.fields(cls) if f.init]


def _rows(page_html: str) -> dict[str, list[tuple[str, str, str]]]:
    """field name -> [(type, default, description)] from the generated tables' rows."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    pattern = re.compile(
        r'<tr id="(?:inherited-)?(?P<id>\w+)"><td><code>(?P<name>[^<]*)</code></td>'
        r"<td><code>(?P<type>[^<]*)</code></td><td><code>(?P<default>[^<]*)</code></td>"
        r"<td>(?P<help>.*?)</td></tr>"
    )
    for match in pattern.finditer(page_html):
        row = (
            html.unescape(match["type"]),
            html.unescape(match["default"]),
            html.unescape(re.sub(r"<[^>]+>", "", match["help"])),
        )
        found.setdefault(html.unescape(match["name"]), []).append(row)
    return found


def _expected_default(field: attrs.Attribute[Any]) -> str:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return repr(default.factory())  # type: ignore[attr-defined]
    return repr(getattr(default, "value", default))


def _check_args_page(cls_name: str, page_html: str) -> None:
    cls = _args_class(cls_name)
    rows = _rows(page_html)
    for field in _user_fields(cls):
        assert field.name in rows, f"{cls_name}.{field.name} is missing from its reference page"
        (type_text, default, description), *more = rows[field.name]
        assert not more, f"{cls_name}.{field.name} appears in several rows"
        assert default == _expected_default(field), (field.name, default)
        assert description.startswith(field.metadata["help"][:40]), field.name
        assert type_text, field.name
    assert len(rows) == len(_user_fields(cls))


# ---- the hooks, called directly ------------------------------------------------------------


@pytest.mark.parametrize("cls_name", ARGS_CLASSES)
def test_args_table_lists_every_field_with_type_default_and_help(cls_name: str) -> None:
    rendered = _hook("args_reference").render(cls_name)
    _check_args_page(cls_name, rendered)


def test_args_table_formats_types_defaults_and_choices() -> None:
    hook = _hook("args_reference")
    fields = {f.name: f for f in attrs.fields(_args_class("TrainingArguments"))}
    assert hook.format_type(fields["output_dir"].type) == "str | None"
    assert hook.format_type(fields["lr_scheduler_type"].type) == "SchedulerType | str"
    assert hook.format_default(fields["learning_rate"]) == "5e-05"
    assert hook.format_default(fields["include_for_metrics"]) == "[]"  # a factory
    assert "cosine" in hook.allowed_values(fields["lr_scheduler_type"])  # from the enum
    assert "gloo" in hook.allowed_values(fields["ddp_backend"])  # from metadata choices
    # the class directive filters the fields out (the table shows them) but keeps methods
    directive = hook.class_directive(_args_class("TrainingArguments"))
    assert directive.startswith("::: trainer_args.TrainingArguments")
    assert "learning_rate" in directive and "to_dict" not in directive


def test_every_public_name_of_every_package_is_documented() -> None:
    """Explicit `::: path` lines plus the `api-rest` markers cover each package's `__all__`."""
    hook = _hook("api_reference")
    claimed = hook.plan(DOCS)
    paths = hook.documented_paths(DOCS)
    rendered = {(m, n) for m, names in claimed.items() for n in names}
    rendered |= {tuple(p.rsplit(".", 1)) for p in paths}
    rendered_ids = {id(o) for o in map(hook.resolve, paths) if o is not None}
    rendered_ids |= {
        id(getattr(importlib.import_module(m), n)) for m, n in rendered if m in claimed
    }
    for package in PACKAGES:
        assert package in claimed, f"no page has <!-- api-rest: {package} -->"
        module = importlib.import_module(package)
        for name in hook.public_names(package):
            covered = (package, name) in rendered or id(getattr(module, name)) in rendered_ids
            assert covered, f"{package}.{name} is not documented"


def test_umbrella_table_links_each_reexport_to_its_layer() -> None:
    table = _hook("api_reference").render_reexports("trainer")
    assert (
        "| `Trainer` | `trainer_loop` | [`trainer_loop.Trainer`][trainer_loop.Trainer] |" in table
    )
    assert (
        "[`trainer_args.ArgumentParser`][trainer_args.ArgumentParser]" in table
    )  # HfArgumentParser
    assert "[`trainer.versions`][trainer.versions]" in table


def test_cli_reference_captures_every_subcommand_help() -> None:
    hook = _hook("cli_reference")
    texts = dict(hook.help_texts("trainer-args"))
    assert set(texts) == {
        "trainer-args --help",
        "trainer-args show --help",
        "trainer-args validate --help",
        "trainer-args schema --help",
        "trainer-args diff --help",
    }
    assert "usage: trainer-args validate" in texts["trainer-args validate --help"]
    trainer_texts = dict(hook.help_texts("trainer"))
    assert "usage: trainer train" in trainer_texts["trainer train --help"]
    assert {"trainer demo --help", "trainer env --help", "trainer plot --help"} <= set(
        trainer_texts
    )


def test_lazily_exported_names_get_a_path_mkdocstrings_can_read() -> None:
    hook = _hook("api_reference")
    # listed under `if TYPE_CHECKING:` in the package: documented under the package path
    assert hook.directive_path("trainer_loop", "Trainer") == "trainer_loop.Trainer"
    assert "Trainer" in hook.static_names("trainer_loop")
    # only reachable through the lazy __getattr__: the defining module's path
    assert "TensorBoardCallback" not in hook.static_names("trainer_loop.reporting")
    module_path = hook.directive_path("trainer_loop.reporting", "TensorBoardCallback")
    assert module_path == "trainer_loop.reporting.tensorboard.TensorBoardCallback"


def test_benchmark_results_are_quoted_not_invented(tmp_path: Path) -> None:
    hook = _hook("repo_files")
    assert "nox -s bench" in hook.render_results(tmp_path)  # no RESULTS.md: says how to get it
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "RESULTS.md").write_text(
        "# Results\n\nours/raw 1.01 ([overhead.py](overhead.py), [torch](https://pytorch.org))\n"
    )
    quoted = hook.render_results(tmp_path)
    assert "ours/raw 1.01" in quoted and "### Results" in quoted
    # links relative to benchmarks/ would not resolve in the strict build: text only
    assert "(overhead.py, [torch](https://pytorch.org))" in quoted
    assert hook.render_image(tmp_path, Path("guides"), "images/none.png", "x") == ""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "plot.png").write_bytes(b"png")
    assert (
        hook.render_image(tmp_path, Path("guides"), "images/plot.png", "x")
        == "![x](../images/plot.png)\n"
    )


# ---- the real build ---------------------------------------------------------------------------


def _missing_docs_tools() -> list[str]:
    needed = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")
    return [name for name in needed if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = _missing_docs_tools()
    if missing:
        pytest.skip(
            f"MkDocs is not installed here ({', '.join(missing)} missing); "
            "`nox -s docs` builds the site with them"
        )
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return out


def _page(site: Path, name: str) -> str:
    return (site / "reference" / name / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls_name", "page"),
    [
        ("TrainingArguments", "training-arguments"),
        ("Seq2SeqTrainingArguments", "seq2seq-training-arguments"),
    ],
)
def test_built_args_page_has_every_field_with_its_default(
    site: Path, cls_name: str, page: str
) -> None:
    _check_args_page(cls_name, _page(site, page))


@pytest.mark.slow
def test_built_trainer_page_has_every_public_method(site: Path) -> None:
    trainer_html = _page(site, "trainer")
    trainer_cls = importlib.import_module("trainer_loop").Trainer
    # Its methods live in the mixins it is assembled from (trainer_loop/trainer/*).
    members = {
        name: value
        for klass in reversed(trainer_cls.__mro__)
        if klass.__module__.startswith("trainer_loop.")
        for name, value in vars(klass).items()
    }
    methods = [n for n, v in members.items() if not n.startswith("_") and callable(v)]
    methods += [n for n, v in members.items() if isinstance(v, property) and not n.startswith("_")]
    assert "train" in methods and "compute_loss" in methods
    for name in methods:
        assert f'id="trainer_loop.Trainer.{name}"' in trainer_html, (
            f"Trainer.{name} is not documented"
        )
    seq2seq_html = _page(site, "seq2seq-trainer")
    for name in ("evaluate", "predict"):
        assert f'id="trainer_seq2seq.Seq2SeqTrainer.{name}"' in seq2seq_html


@pytest.mark.slow
def test_built_reference_has_an_anchor_for_every_public_name(site: Path) -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (site / "reference").rglob("*.html"))
    anchors = set(re.findall(r'id="([\w.]+)"', pages))
    hook = _hook("api_reference")
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in hook.public_names(package):
            # the umbrella's re-exports are documented (and anchored) in their own layer
            source = (
                hook.reexport_source(getattr(module, name), name) if package == "trainer" else None
            )
            anchor = source or hook.directive_path(package, name)
            explicit = f"{package}.{name}"  # a page may also document it under the package path
            assert anchor in anchors or explicit in anchors, f"{package}.{name} has no anchor"
    umbrella = _page(site, "umbrella")
    assert 'href="../trainer/#trainer_loop.Trainer"' in umbrella


@pytest.mark.slow
def test_built_cli_page_shows_the_help_output(site: Path) -> None:
    cli_html = html.unescape(_page(site, "cli"))
    assert "usage: trainer-args validate" in cli_html
    assert "usage: trainer train" in cli_html
