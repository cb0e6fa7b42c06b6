"""Sessions for the trainer monorepo: `nox -l` lists them.

torch is always installed first and pinned: a loose requirement lets pip pick
a multi-GB CUDA build, while the pinned CPU wheel is on the machine's disk.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import nox

ROOT = pathlib.Path(__file__).parent
PACKAGES = ["args", "dist", "loop", "seq2seq", "trainer"]  # bottom-up: install order
TORCH_VERSIONS = ["2.13.0"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"

# What the test suite needs besides the packages. transformers is the reference
# implementation the parity tests compare against; it is never a dependency.
TEST_DEPS = ["pytest>=8", "hypothesis>=6.100", "import-linter>=2.1", "PyYAML>=6.0"]
# sacrebleu: a metric library users pass to compute_metrics (pure Python, no torch).
REFERENCE_DEPS = [
    "transformers>=5.0,<6", "datasets>=3.0", "optuna>=4.0", "peft>=0.13", "sacrebleu>=2.4",
]  # fmt: skip
# mlflow-skinny: the tracking client with its local file store, without the server stack.
# trackio: local SQLite store, so its test reads every logged scalar back (0.21: bucket_id).
REPORTING_DEPS = ["tensorboard>=2.15", "matplotlib>=3.6", "mlflow-skinny>=2.10", "trackio>=0.21"]
# Not in the tests session: transformers imports comet_ml whenever it is installed (1.5 s in
# every process that imports transformers.Trainer, plus its framework hooks). Its own session.
COMET_DEPS = ["comet_ml>=3.43.2"]
# The benchmarks compare against transformers (and lightning when it is installed); they read
# memory from /proc, so nothing else is needed.
BENCH_DEPS = ["transformers>=5.0,<6"]
DOCS_DEPS = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "black>=24"]

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"


def _editable_packages() -> list[str]:
    args: list[str] = []
    for name in PACKAGES:
        args += ["-e", str(ROOT / "packages" / name)]
    return args


def _install_torch(session: nox.Session, torch: str) -> None:
    session.install(f"torch=={torch}")


def _install_stack(session: nox.Session, torch: str, *extra: str) -> None:
    """torch first (pinned), then every package editable, then `extra`."""
    _install_torch(session, torch)
    session.install(f"torch=={torch}", *_editable_packages(), *extra)


@nox.session(python=DEFAULT_PYTHON)
@nox.parametrize("torch", TORCH_VERSIONS)
def tests(session: nox.Session, torch: str) -> None:
    """The full stack with transformers as the reference: unit, parity and end-to-end tests."""
    _install_stack(session, torch, *TEST_DEPS, *REFERENCE_DEPS, *REPORTING_DEPS)
    session.run("lint-imports", "--no-cache")
    session.run("pytest", *session.posargs, env={"TRAINER_TORCH_EXPECTED": torch})


@nox.session(python=DEFAULT_PYTHON)
def comet(session: nox.Session) -> None:
    """The comet_ml integration against the real package, offline (the tests session has a fake)."""
    _install_stack(session, TORCH_VERSIONS[0], *TEST_DEPS, "transformers>=5.0,<6", *COMET_DEPS)
    reporting = str(ROOT / "packages" / "loop" / "tests" / "test_reporting.py")
    session.run("pytest", reporting, "-k", "comet", *session.posargs)


@nox.session(python=PYTHONS)
def args(session: nox.Session) -> None:
    """trainer-args alone, in a venv without torch, on every Python the machine has."""
    session.install(f"{ROOT / 'packages' / 'args'}[yaml]", "pytest>=8", "hypothesis>=6.100")
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "sys.exit('torch is importable in the args venv') if importlib.util.find_spec('torch') else None",
    )
    session.run("pytest", str(ROOT / "packages" / "args" / "tests"), *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def build(session: nox.Session) -> None:
    """Build a wheel and an sdist of each package; install each wheel alone into a fresh venv."""
    session.install("build>=1.0")
    out = pathlib.Path(session.create_tmp()) / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for name in PACKAGES:
        session.run("python", "-m", "build", "--outdir", str(out), str(ROOT / "packages" / name))
    session.run("python", str(ROOT / ".ci" / "check_wheels.py"), str(out), TORCH_VERSIONS[0])


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy on the packages, after checking they see them all."""
    # Pinned: a new ruff or mypy release must not turn main red on its own.
    session.install("ruff==0.17.6", "mypy==2.4.1", "types-PyYAML", "types-tqdm")
    # Every packages/*/src file must be seen by ruff and mypy (a default exclude once hid one).
    session.run("python", str(ROOT / ".ci" / "check_lint_coverage.py"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    _install_stack(session, TORCH_VERSIONS[0])
    session.run("mypy")


@nox.session(python=DEFAULT_PYTHON)
def lowest(session: nox.Session) -> None:
    """The test suite against the lowest declared versions (constraints-lowest.txt).

    The reference (transformers) needs newer releases than our floors, so its
    parity tests skip here: this session checks our own declared ranges.
    """
    constraints = str(ROOT / "constraints-lowest.txt")
    _install_torch(session, TORCH_VERSIONS[0])
    session.install(
        "-c", constraints, f"torch=={TORCH_VERSIONS[0]}", *_editable_packages(), *TEST_DEPS
    )
    session.run("python", str(ROOT / ".ci" / "check_lowest.py"), constraints)
    session.run("pytest", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def demo(session: nox.Session) -> None:
    """Install the umbrella and run the bundled demo jobs (no downloads, no GPU)."""
    _install_torch(session, TORCH_VERSIONS[0])
    session.install(f"torch=={TORCH_VERSIONS[0]}", *_editable_packages(), "matplotlib>=3.6")
    workdir = pathlib.Path(session.create_tmp())
    kinds = session.posargs or ["lm", "seq2seq"]
    for kind in kinds:
        session.run("trainer", "demo", kind, "--output-dir", str(workdir / f"demo-{kind}"))


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """CPU benchmarks: ratio lines against a raw loop and transformers, measured in one run.

    One thread per process (the overhead figures are about the framework around one-thread
    kernels); the summary is also written to the session's tmp folder as bench-summary.txt,
    the block benchmarks/RESULTS.md records. `nox -s bench -- --quick` is a smoke run.
    """
    _install_stack(session, TORCH_VERSIONS[0], *BENCH_DEPS)
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    summary = pathlib.Path(session.create_tmp()) / "bench-summary.txt"
    run_all = str(ROOT / "benchmarks" / "run_all.py")
    session.run("python", run_all, "--results", str(summary), *session.posargs, env=env)


@nox.session(python=DEFAULT_PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ with warnings as errors, then test it.

    tests/docs runs every code block of the docs and checks the built reference
    (every TrainingArguments field with its default); its build checks need
    mkdocs, which only this session installs.
    """
    _install_stack(session, TORCH_VERSIONS[0], *DOCS_DEPS, "pytest>=8")
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))
    session.run("pytest", str(ROOT / "tests" / "docs"), *session.posargs)


if os.environ.get("CI"):
    # CI must not silently skip a Python it was asked for.
    nox.options.error_on_missing_interpreters = True
