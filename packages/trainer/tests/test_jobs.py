"""Job files: parsing, and errors that name the file, the line and the likely fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trainer.jobs import Datasets, JobError, call_factory, load_job, parse_job

FACTORIES = """
def make_thing(size=1):
    return {"size": size}

value = 3
"""


def _job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_minimal_job_defaults() -> None:
    job = parse_job("model: m:f\ndata: m:g\n")
    assert (job.model.target, job.data.target) == ("m:f", "m:g")
    assert job.trainer == "trainer"
    assert job.collator is None and job.metrics is None and job.callbacks == ()
    assert dict(job.args) == {}


def test_full_job(tmp_path: Path) -> None:
    path = _job(
        tmp_path,
        """
        name: demo
        model: {factory: "pkg.models:build", kwargs: {width: 8}}
        data: pkg.data:load
        collator: pkg.data:collate
        metrics: pkg.metrics:accuracy
        callbacks: [pkg.cb:one, pkg.cb:two]
        trainer: seq2seq
        args:
          output_dir: out
          learning_rate: 3.0e-4
        """,
    )
    job = load_job(path)
    assert job.name == "demo"
    assert job.model.target == "pkg.models:build" and dict(job.model.kwargs) == {"width": 8}
    assert [ref.target for ref in job.callbacks] == ["pkg.cb:one", "pkg.cb:two"]
    assert job.trainer == "seq2seq"
    assert dict(job.args) == {"output_dir": "out", "learning_rate": 3.0e-4}
    assert job.where("learning_rate") == f"{path}:10"
    assert job.base_dir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: m:f\ndata: m:g\nmodle: x\n", r"job.yaml:3: unknown key 'modle'"),
        ("data: m:g\n", r"missing `model:`"),
        ("model: m:f\ndata: m:g\ntrainer: seq2sec\n", r"job.yaml:3: .*did you mean 'seq2seq'"),
        ("model: just_a_module\ndata: m:g\n", r"job.yaml:1: model: expected `module:function`"),
        ("model: m:f\ndata: m:g\nargs: [1, 2]\n", r"job.yaml:3: args: expected a mapping"),
        ("model: m:f\ndata: [unclosed\n", r"job.yaml:\d+: not valid YAML"),
        ("- a\n- b\n", r"a job file is a mapping"),
        ("model: m:f\nmodel: m:g\ndata: m:g\n", r"job.yaml:2: 'model' is given twice"),
    ],
)
def test_bad_job_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(JobError, match=message):
        load_job(_job(tmp_path, text))


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="did you mean 'model'"):
        load_job(_job(tmp_path, "modle: m:f\ndata: m:g\n"))


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="cannot read job file"):
        load_job(tmp_path / "nope.yaml")


def test_factory_module_beside_the_job_file(tmp_path: Path) -> None:
    (tmp_path / "beside_job_factories.py").write_text(FACTORIES)
    job = load_job(
        _job(
            tmp_path,
            "model: {factory: 'beside_job_factories:make_thing', kwargs: {size: 4}}\ndata: m:g\n",
        )
    )
    assert call_factory(job.model, job.base_dir) == {"size": 4}


def test_factory_from_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "things.py").write_text(FACTORIES)
    job = load_job(_job(tmp_path, "model: sub/things.py:make_thing\ndata: m:g\n"))
    assert call_factory(job.model, job.base_dir) == {"size": 1}


def test_missing_module(tmp_path: Path) -> None:
    job = load_job(_job(tmp_path, "data: m:g\nmodel: no_such_module_xyz:make\n"))
    with pytest.raises(JobError, match=r"job.yaml:2: cannot import module 'no_such_module_xyz'"):
        call_factory(job.model, job.base_dir)


def test_missing_function_suggests_the_closest(tmp_path: Path) -> None:
    (tmp_path / "close_factories.py").write_text(FACTORIES)
    job = load_job(_job(tmp_path, "model: close_factories:make_thnig\ndata: m:g\n"))
    with pytest.raises(JobError, match=r"job.yaml:1: .*no 'make_thnig'; did you mean 'make_thing'"):
        call_factory(job.model, job.base_dir)


def test_not_callable(tmp_path: Path) -> None:
    (tmp_path / "value_factories.py").write_text(FACTORIES)
    job = load_job(_job(tmp_path, "model: value_factories:value\ndata: m:g\n"))
    with pytest.raises(JobError, match="is a int, not a function"):
        call_factory(job.model, job.base_dir)


def test_bad_kwargs_name_the_factory(tmp_path: Path) -> None:
    (tmp_path / "kw_factories.py").write_text(FACTORIES)
    job = load_job(
        _job(
            tmp_path, "model: {factory: 'kw_factories:make_thing', kwargs: {sise: 2}}\ndata: m:g\n"
        )
    )
    with pytest.raises(JobError, match=r"kw_factories:make_thing: .*sise"):
        call_factory(job.model, job.base_dir)


def test_datasets_defaults() -> None:
    assert Datasets(train=[1]).eval is None


def test_a_missing_import_inside_the_factory_module_keeps_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken_factories.py").write_text("import broken_dependency_xyz\n")
    job = load_job(_job(tmp_path, "model: broken_factories:make\ndata: m:g\n"))
    with pytest.raises(ModuleNotFoundError, match="broken_dependency_xyz"):
        call_factory(job.model, job.base_dir)
