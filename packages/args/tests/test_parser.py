"""ArgumentParser: the same argv gives the same objects as transformers' HfArgumentParser."""

import dataclasses
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from trainer_args import ArgumentParser, IntervalStrategy, TrainingArguments, ValidationError


class Color(Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Basic:
    foo: int
    bar: float = 0.5
    baz: str = "toto"
    flag: bool = False
    on: bool = True
    opt: bool | None = None
    color: Color = Color.RED
    lit: Literal["a", 1, True] = "a"
    nums: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    maybe: int | None = None
    named: str = dataclasses.field(
        default="x", metadata={"aliases": ["-A", "--nm"], "help": "a named value"}
    )


@attrs.define
class AttrsBasic:
    foo: int
    flag: bool = False
    on: bool = True
    color: Color = Color.RED
    nums: list[int] = attrs.field(factory=lambda: [1, 2])
    named: str = attrs.field(default="x", metadata={"aliases": ["-A"], "help": "a named value"})


BASIC_ARGV = [
    ["--foo", "1"],
    ["--foo", "1", "--bar", "2.5", "--baz", "hi", "--flag"],
    ["--foo", "1", "--flag", "false", "--no_on"],
    ["--foo", "1", "--no-on", "--flag", "yes", "--opt", "true"],
    ["--foo", "1", "--color", "blue", "--lit", "1"],
    ["--foo", "1", "--lit", "True", "--nums", "3", "4", "5"],
    ["--foo", "1", "--maybe", "7", "-A", "y"],
    ["--foo", "1", "--nm", "z", "--flag", "T"],
]
BASIC_BAD_ARGV = [
    [],  # foo is required
    ["--foo", "x"],
    ["--foo", "1", "--opt"],  # Optional[bool] with default None needs a value
    ["--foo", "1", "--color", "green"],
    ["--foo", "1", "--flag", "maybe"],
    ["--foo", "1", "--lit", "b"],
]


def _parse(parser: Any, argv: list[str], **kwargs: Any) -> tuple[Any, ...]:
    return parser.parse_args_into_dataclasses(argv, look_for_args_file=False, **kwargs)


@pytest.mark.reference
@pytest.mark.parametrize("argv", BASIC_ARGV)
def test_dataclass_parse_like_hf(hf: Any, argv: list[str]) -> None:
    (ours,) = _parse(ArgumentParser(Basic), argv)
    (theirs,) = _parse(hf.HfArgumentParser(Basic), argv)
    assert ours == theirs
    assert type(ours.lit) is type(theirs.lit)


@pytest.mark.parametrize("argv", BASIC_BAD_ARGV)
def test_bad_argv_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parse(ArgumentParser(Basic), argv)
    assert info.value.code == 2


@pytest.mark.reference
@pytest.mark.parametrize("argv", BASIC_BAD_ARGV)
def test_bad_argv_is_a_usage_error_in_hf_too(
    hf: Any, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _parse(hf.HfArgumentParser(Basic), argv)


def test_attrs_classes_parse() -> None:
    (args,) = _parse(
        ArgumentParser(AttrsBasic),
        ["--foo", "2", "--flag", "--no_on", "--color", "blue", "--nums", "7", "-A", "q"],
    )
    assert args == AttrsBasic(foo=2, flag=True, on=False, color="blue", nums=[7], named="q")  # type: ignore[arg-type]
    (default,) = _parse(ArgumentParser(AttrsBasic), ["--foo", "2"])
    assert default.nums == [1, 2] and default.on is True


TRAINING_ARGV = [
    [],
    [
        "--output_dir",
        "out",
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "5",
        "--lr_scheduler_kwargs",
        '{"num_cycles": 2}',
    ],
    ["--label_names", "a", "b", "--report_to", "tensorboard", "--debug", "underflow_overflow"],
    ["--no_remove_unused_columns", "--no-dataloader-pin-memory", "--fp16", "--seed", "3"],
    ["--activation_checkpointing", "--fsdp", "--include_for_metrics", "inputs", "loss"],
    ["--include_num_input_tokens_seen", "--tf32", "false", "--greater_is_better", "true"],
    [
        "--learning-rate",
        "1e-4",
        "--warmup_steps",
        "0.1",
        "--optim",
        "sgd",
        "--lr_scheduler_type",
        "cosine",
    ],
    [
        "--per_device_train_batch_size",
        "4",
        "--logging_steps",
        "10",
        "--save_strategy",
        "epoch",
        "--eval_strategy",
        "epoch",
        "--load_best_model_at_end",
    ],
    [
        "--accelerator_config",
        '{"split_batches": true}',
        "--log_level",
        "info",
        "--trackio_static_space_id",
        "space",
    ],
    [
        "--fsdp",
        "full_shard auto_wrap",
        "--fsdp_config",
        '{"min_num_params": 5}',
        "--hub_token",
        "t",
    ],
]


@pytest.mark.reference
@pytest.mark.parametrize("argv", TRAINING_ARGV)
def test_training_arguments_parse_like_hf(hf: Any, argv: list[str], comparable: Any) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (theirs,) = _parse(hf.HfArgumentParser(hf.TrainingArguments), argv)
        (ours,) = _parse(ArgumentParser(TrainingArguments), argv)
    assert comparable(ours.to_dict()) == comparable(theirs.to_dict())


@pytest.mark.reference
def test_option_strings_like_hf(hf: Any) -> None:
    def options(parser: Any) -> list[tuple[str, ...]]:
        return [tuple(a.option_strings) for a in parser._actions]

    assert options(ArgumentParser(TrainingArguments)) == options(
        hf.HfArgumentParser(hf.TrainingArguments)
    )


def test_training_arguments_flags() -> None:
    parser = ArgumentParser(TrainingArguments)
    flags = {s for a in parser._actions for s in a.option_strings}
    for name in (
        "remove_unused_columns",
        "dataloader_pin_memory",
        "logging_nan_inf_filter",
        "log_on_each_node",
        "skip_memory_metrics",
        "eval_do_concat_batches",
        "dataloader_in_order",
        "average_tokens_across_devices",
    ):
        assert f"--no_{name}" in flags and f"--no-{name.replace('_', '-')}" in flags
    (args,) = _parse(
        parser, ["--eval_strategy", "steps", "--eval_steps", "5", "--label_names", "a", "b"]
    )
    assert (
        args.eval_strategy is IntervalStrategy.STEPS
        and args.eval_steps == 5
        and args.label_names == ["a", "b"]
    )


def test_include_tokens_seen_is_bool_on_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(
            ArgumentParser(TrainingArguments), ["--include_num_input_tokens_seen", "non_padding"]
        )
    (args,) = ArgumentParser(TrainingArguments).parse_dict(
        {"include_num_input_tokens_seen": "non_padding"}
    )
    assert args.include_num_input_tokens_seen == "non_padding"


def test_bad_values_from_cli_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="round multiple"):
        _parse(
            ArgumentParser(TrainingArguments),
            [
                "--load_best_model_at_end",
                "--eval_strategy",
                "steps",
                "--eval_steps",
                "3",
                "--save_steps",
                "5",
            ],
        )


# ------------------------------------------------------------ args files
def test_args_filename_is_prepended(tmp_path: Path) -> None:
    path = tmp_path / "run.args"
    path.write_text("--foo 3\n--bar 1.5 --baz file")
    (args,) = ArgumentParser(Basic).parse_args_into_dataclasses(
        ["--bar", "2.0"], args_filename=path
    )
    assert (args.foo, args.bar, args.baz) == (3, 2.0, "file")


def test_args_file_flag(tmp_path: Path) -> None:
    (tmp_path / "a.args").write_text("--foo 1 --baz a")
    (tmp_path / "b.args").write_text("--baz b")
    argv = ["--cfg", str(tmp_path / "a.args"), "--cfg", str(tmp_path / "b.args"), "--bar", "9"]
    (args,) = ArgumentParser(Basic).parse_args_into_dataclasses(
        argv, look_for_args_file=False, args_file_flag="--cfg"
    )
    assert (args.foo, args.bar, args.baz) == (1, 9.0, "b")


def test_script_args_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.args").write_text("--foo 5")
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "train.py"), "--bar", "3"])
    (args,) = ArgumentParser(Basic).parse_args_into_dataclasses()
    assert (args.foo, args.bar) == (5, 3.0)


def test_remaining_strings_and_extra_namespace() -> None:
    parser = ArgumentParser(Basic)
    parser.add_argument("--extra", default="e")
    args, extra, remaining = parser.parse_args_into_dataclasses(
        ["--foo", "1", "--extra", "z", "--unknown", "u"],
        look_for_args_file=False,
        return_remaining_strings=True,
    )
    assert args.foo == 1 and extra.extra == "z" and remaining == ["--unknown", "u"]
    with pytest.raises(
        ValidationError, match="Some specified arguments are not used by the HfArgumentParser"
    ) as info:
        _parse(parser, ["--foo", "1", "--bazz", "x"])
    assert info.value.errors[0].suggestion == "--baz"


# ------------------------------------------------------ dicts and files
def test_parse_dict_and_extra_keys() -> None:
    parser = ArgumentParser(Basic)
    (args,) = parser.parse_dict({"foo": 4, "nums": [9]})
    assert args.foo == 4 and args.nums == [9]
    with pytest.raises(
        ValidationError, match=r"Some keys are not used by the HfArgumentParser: \['zzz'\]"
    ):
        parser.parse_dict({"foo": 4, "zzz": 1})
    assert parser.parse_dict({"foo": 4, "zzz": 1}, allow_extra_keys=True)[0].foo == 4


@pytest.mark.reference
def test_parse_dict_like_hf(hf: Any, comparable: Any) -> None:
    data = {
        "output_dir": "o",
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "load_best_model_at_end": True,
        "report_to": "none",
    }
    (ours,) = ArgumentParser(TrainingArguments).parse_dict(dict(data))
    (theirs,) = hf.HfArgumentParser(hf.TrainingArguments).parse_dict(dict(data))
    assert comparable(ours.to_dict()) == comparable(theirs.to_dict())
    with pytest.raises(ValueError):
        hf.HfArgumentParser(hf.TrainingArguments).parse_dict({"zzz": 1})


def test_json_and_yaml_files(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "a.json").write_text(json.dumps({"foo": 2, "color": "blue"}))
    (tmp_path / "a.yaml").write_text("foo: 3\nflag: true\n")
    parser = ArgumentParser(Basic)
    assert parser.parse_json_file(tmp_path / "a.json")[0].foo == 2
    assert parser.parse_yaml_file(tmp_path / "a.yaml")[0].flag is True
    (tmp_path / "t.yaml").write_text("learning_rate: 1e-4\neval_strategy: epoch\n")
    (args,) = ArgumentParser(TrainingArguments).parse_yaml_file(tmp_path / "t.yaml")
    assert args.learning_rate == 1e-4 and args.do_eval is True


# ---------------------------------------------------------------- misc
def test_help_shows_help_strings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        ArgumentParser(TrainingArguments).parse_args(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Initial (peak) learning rate." in out and "--no_remove_unused_columns" in out


def test_unions_without_str_are_rejected() -> None:
    @dataclasses.dataclass
    class Bad:
        x: int | float = 1

    with pytest.raises(ValueError, match="Only `Union"):
        ArgumentParser(Bad)


def test_argument_group_name() -> None:
    @dataclasses.dataclass
    class Grouped:
        _argument_group_name = "my group"
        x: int = 1

    parser = ArgumentParser(Grouped)
    assert any(g.title == "my group" for g in parser._action_groups)


def test_parse_overrides_only_returns_given_flags() -> None:
    parser = ArgumentParser(TrainingArguments)
    assert parser.parse_overrides(["--seed", "3", "--fp16"]) == {"seed": 3, "fp16": True}
    assert parser.parse_args([]).seed == 42  # defaults restored
