"""Hostile configuration input: fuzzed dicts, JSON, YAML and argv for every way arguments come in.

Whatever the input, only the documented error escapes: `trainer_args.ValidationError` from
the library, exit code 1 or 2 with a message from the `trainer-args` CLI, `JobError` from
the `trainer train` job loader (argparse's own usage errors exit 2). YAML is always loaded
safely: a tag that would construct an object (`!!python/object/apply:...`) never runs, which
a marker file would show.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer.job_arguments import build_arguments
from trainer.jobs import JobError, parse_job
from trainer_args import ArgumentParser, TrainingArguments, ValidationError
from trainer_args.cli import main as trainer_args_main
from trainer_args.fields import arg_fields

# Fuzzed configs set deprecated fields too: their FutureWarnings are expected.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
FIELDS = [f.name for f in arg_fields(TrainingArguments)]
# 40 examples per test keep the file under 20 s, the same ones on every run (CI stays
# deterministic); RELIABILITY_FUZZ_EXAMPLES=2000 hunts longer, with fresh random examples.
_HUNT = os.environ.get("RELIABILITY_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_HUNT or 40),
    derandomize=not _HUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# Numbers at and beyond the edges: huge ints (10**1000 has more digits than int() parses from
# a string by default), floats that overflow, NaN, signed zero, tiny subnormals.
EDGE_NUMBERS = st.sampled_from(
    [10**1000, -(10**1000), 2**63, -1, 0, float("inf"), float("-inf"), float("nan"), -0.0,
     5e-324, 1e308, 1.5, True, False]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    EDGE_NUMBERS,
    st.text(max_size=12),
    st.sampled_from(
        ["", "auto", "none", "steps", "epoch", "1e400", "nan", "-1", "yes", "\x00", "é\u202e"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=12))
CONFIGS = st.dictionaries(KEYS, VALUES, max_size=6).map(lambda d: {"output_dir": "o", **d})


def _library_only_validation_error(call: Any) -> None:
    try:
        call()
    except ValidationError as error:
        assert str(error)  # a message, which formats without raising


@FUZZ
@given(CONFIGS)
def test_from_dict_and_parse_dict(config: dict[str, Any]) -> None:
    _library_only_validation_error(lambda: TrainingArguments.from_dict(config))
    _library_only_validation_error(lambda: ArgumentParser(TrainingArguments).parse_dict(config))


def _jsonable(config: dict[str, Any]) -> str:
    return json.dumps(config, default=str)  # NaN/Infinity as JSON extensions, as users write them


@FUZZ
@given(CONFIGS)
def test_json_and_yaml_files(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any]
) -> None:
    folder = tmp_path_factory.mktemp("cfg")
    json_file, yaml_file = folder / "a.json", folder / "a.yaml"
    try:
        json_file.write_text(_jsonable(config))
    except ValueError:  # an int too long to print: not a file anyone can write either
        return
    yaml_file.write_text(yaml.safe_dump(json.loads(json_file.read_text())))
    parser = ArgumentParser(TrainingArguments)
    for call in (
        lambda: parser.parse_json_file(json_file),
        lambda: parser.parse_yaml_file(yaml_file),
        lambda: TrainingArguments.from_json_file(json_file),
        lambda: TrainingArguments.from_yaml_file(yaml_file),
    ):
        _library_only_validation_error(call)
    assert _cli(["validate", str(json_file), str(yaml_file)]) in (0, 1)


def _cli(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return trainer_args_main(argv)


ARGV_TOKENS = st.one_of(
    st.sampled_from(FIELDS).map(lambda name: f"--{name}"),
    st.text(max_size=10),
    st.sampled_from(["--", "-h5", "--no_", "1e400", "nan", "inf", "9" * 5000, "--output_dir="]),
    SCALARS.map(str),
)


@FUZZ
@given(st.lists(ARGV_TOKENS, max_size=8))
def test_argv(argv: list[str]) -> None:
    parser = ArgumentParser(TrainingArguments)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args_into_dataclasses(
                args=["--output_dir", "o", *argv], look_for_args_file=False
            )
    except ValidationError:
        pass
    except SystemExit as exit_:  # argparse: a usage error (2), or --help (0)
        assert exit_.code in (0, 2)


@FUZZ
@given(CONFIGS)
def test_job_loader(config: dict[str, Any]) -> None:
    try:
        text = yaml.safe_dump(
            {"model": "m:f", "data": "m:g", "args": json.loads(_jsonable(config))}
        )
    except ValueError:
        return
    try:
        build_arguments(parse_job(text, source="job.yaml"))
    except JobError as error:
        assert (
            str(error).startswith("job.yaml") or "argument" in str(error) or "option" in str(error)
        )


# --- hand-written hostile YAML -------------------------------------------------------------


def _tags(marker: Path) -> list[str]:
    command = f"touch {marker}"
    return [
        f"!!python/object/apply:os.system [{command!r}]",
        f"!!python/object/apply:subprocess.check_output [[touch, {str(marker)!r}]]",
        f"!!python/object/new:os.system [{command!r}]",
        "!!python/name:os.system",
        "!!python/module:os",
        f'!!python/object/apply:builtins.exec ["import pathlib; pathlib.Path({str(marker)!r}).touch()"]',
    ]


def test_yaml_tags_never_construct_objects(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for tag in _tags(marker):
        for text in (f"output_dir: {tag}\n", f"learning_rate: {tag}\n", f"{tag}\n"):
            path = tmp_path / "args.yaml"
            path.write_text(text)
            with pytest.raises(ValidationError, match=r"cannot read YAML|mapping"):
                TrainingArguments.from_yaml_file(path)
            with pytest.raises(ValidationError):
                ArgumentParser(TrainingArguments).parse_yaml_file(path)
            assert _cli(["validate", str(path)]) == 1
            assert _cli(["show", str(path)]) == 1
            with pytest.raises(JobError, match=r"job\.yaml:\d+"):
                parse_job(f"model: m:f\ndata: m:g\nargs:\n  {text}", source="job.yaml")
            with pytest.raises(JobError, match=r"job\.yaml:\d+"):
                parse_job(f"model: {tag}\ndata: m:g\n", source="job.yaml")
    assert not marker.exists()


def test_edge_numbers_from_files(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("output_dir: o\nlearning_rate: 1e400\nmax_steps: .nan\n")
    with pytest.raises(ValidationError, match=r"max_steps=nan: expected int"):
        TrainingArguments.from_yaml_file(path)
    path.write_text("output_dir: o\nmax_steps: " + "9" * 5000 + "\n")  # beyond int()'s digit limit
    with pytest.raises(ValidationError, match=r"cannot read YAML"):
        TrainingArguments.from_yaml_file(path)
    path = tmp_path / "a.json"
    path.write_text('{"output_dir": "o", "max_steps": ' + "9" * 5000 + "}")
    with pytest.raises(ValidationError, match=r"cannot read JSON"):
        TrainingArguments.from_json_file(path)
    args = TrainingArguments.from_dict({"output_dir": "o", "learning_rate": 1e400})
    assert math.isinf(args.learning_rate)  # not validated: accepted, as by transformers (below)


@pytest.mark.reference
def test_infinite_learning_rate_accepted_as_by_transformers(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    theirs = transformers.TrainingArguments(output_dir=str(tmp_path), learning_rate=1e400)
    ours = TrainingArguments.from_dict({"output_dir": str(tmp_path), "learning_rate": 1e400})
    assert math.isinf(theirs.learning_rate) and ours.learning_rate == theirs.learning_rate


def test_job_with_an_int_too_long_to_parse() -> None:
    text = "model: m:f\ndata: m:g\nargs:\n  max_steps: " + "9" * 5000 + "\n"
    with pytest.raises(JobError, match=r"job\.yaml:4"):
        parse_job(text, source="job.yaml")


DEPTH = 5000  # far beyond the interpreter's recursion limit


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deeply_nested_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    path.write_text('{"output_dir": "o", "learning_rate": ' + "[" * DEPTH + "]" * DEPTH + "}")
    with pytest.raises(ValidationError, match=r"cannot read"):
        if suffix == ".yaml":
            TrainingArguments.from_yaml_file(path)
        else:
            TrainingArguments.from_json_file(path)
    assert _cli(["validate", str(path)]) == 1


def test_deeply_nested_job() -> None:
    text = "model: m:f\ndata: m:g\nargs:\n  learning_rate: " + "[" * DEPTH + "]" * DEPTH + "\n"
    with pytest.raises(JobError, match=r"job\.yaml"):
        parse_job(text, source="job.yaml")


def _laughs(levels: int) -> str:
    """YAML whose aliases expand to 9**levels strings (the billion laughs at levels=9)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines)


LEVELS = 6  # 531441 strings once expanded: quick to refuse, visibly large when printed


def test_billion_laughs_message_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    anchors = "\n".join(f"  {line}" for line in _laughs(LEVELS).splitlines())
    path.write_text(f"output_dir: o\nanchors:\n{anchors}\nreport_to: *l{LEVELS}\n")
    with pytest.raises(ValidationError) as caught:
        TrainingArguments.from_yaml_file(path)
    assert len(str(caught.value)) < 10_000


def test_billion_laughs_in_a_job_file_under_unknown_keys() -> None:
    """Aliases are shared, never copied: an unused bomb costs nothing."""
    anchors = "\n".join(f"  {line}" for line in _laughs(9).splitlines())
    text = (
        f"model: m:f\ndata: m:g\nname: x\ndescription: y\nargs:\n  output_dir: o\nz:\n{anchors}\n"
    )
    with pytest.raises(JobError, match=r"job\.yaml:\d+: unknown key 'z'"):
        parse_job(text, source="job.yaml")


def _trainer_cli(argv: list[str]) -> tuple[int, str]:
    from trainer.cli import main as trainer_main

    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        try:
            code = trainer_main(argv)
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, stderr.getvalue()


def test_trainer_train_refuses_tags_with_a_usage_error(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    job = tmp_path / "job.yaml"
    for tag in _tags(marker):
        job.write_text(f"model: m:f\ndata: m:g\nargs:\n  output_dir: {tag}\n")
        code, message = _trainer_cli(["train", str(job)])
        assert code == 2, message
        assert f"{job}:4" in message and "constructor" in message, message
    assert not marker.exists()


def test_clis_on_deeply_nested_files(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("model: m:f\ndata: m:g\nargs:\n  learning_rate: " + "[" * DEPTH + "]" * DEPTH)
    args = tmp_path / "args.yaml"
    args.write_text("learning_rate: " + "[" * DEPTH + "]" * DEPTH)
    assert _trainer_cli(["train", str(job)])[0] == 2
    assert _cli(["validate", str(args)]) == 1
