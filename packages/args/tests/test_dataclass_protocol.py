"""TrainingArguments is a dataclass to user code: the subclassing patterns of public scripts.

Each pattern is written the way a transformers user writes it (Alpaca/LLaVA/FastChat-style
`train.py`, TRL-style configs) and, where transformers is installed, built on both bases
and compared. No `from __future__ import annotations` here: the subclasses are declared as
scripts declare them, with real annotation objects.
"""

import copy
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

import attrs
import pytest

from trainer_args import (
    ArgumentParser,
    Seq2SeqTrainingArguments,
    TrainingArguments,
    ValidationError,
    json_schema,
)
from trainer_args.cli import main as cli_main

MAX_LENGTH_HELP = (
    "Maximum sequence length. Sequences will be right padded (and possibly truncated)."
)


def alpaca_arguments(base: type) -> type:
    """The `TrainingArguments` subclass of Alpaca's train.py, with a `__post_init__` of its own."""

    @dataclass
    class AlpacaTrainingArguments(base):  # type: ignore[misc, valid-type]
        cache_dir: Optional[str] = field(default=None)  # noqa: UP045 - as scripts write it
        optim: str = field(default="adamw_torch")
        model_max_length: int = field(default=512, metadata={"help": MAX_LENGTH_HELP})

        def __post_init__(self) -> None:
            super().__post_init__()
            self.post_init_calls = getattr(self, "post_init_calls", 0) + 1

    return AlpacaTrainingArguments


def trl_config(base: type) -> type:
    """A TRL-style config: new fields, overridden defaults, a field re-annotated as optional."""

    @dataclass
    class SFTConfig(base):  # type: ignore[misc, valid-type]
        _VALID_DICT_FIELDS = [*base._VALID_DICT_FIELDS, "model_init_kwargs"]  # noqa: RUF012

        learning_rate: float = field(default=2e-5, metadata={"help": "Overridden default."})
        logging_steps: float = field(default=10, metadata={"help": "Log every N steps."})
        bf16: Optional[bool] = field(default=None, metadata={"help": "None: not fp16."})  # noqa: UP045
        model_init_kwargs: Optional[dict[str, Any]] = field(default=None)  # noqa: UP045
        max_length: Optional[int] = field(default=1024, metadata={"help": "Truncate to this."})  # noqa: UP045
        packing: bool = field(default=False, metadata={"help": "Pack sequences."})

        def __post_init__(self) -> None:
            self.bf16 = not self.fp16 if self.bf16 is None else self.bf16
            super().__post_init__()

    return SFTConfig


@dataclass
class ModelArguments:
    model_name_or_path: Optional[str] = field(default="facebook/opt-125m")  # noqa: UP045


@dataclass
class DataArguments:
    data_path: str = field(default=None, metadata={"help": "Path to the training data."})  # type: ignore[assignment]


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """to_dict/asdict output in a form both libraries share (enums as values, configs as dicts)."""
    out = json.loads(json.dumps(d, default=lambda v: getattr(v, "value", str(v))))
    accelerator = out.get("accelerator_config")
    if isinstance(accelerator, dict):
        accelerator.pop("use_configured_state", None)  # transformers pops it at device set-up
    return out


# ------------------------------------------------------------------------ the protocol


def test_our_classes_are_dataclasses_with_class_level_defaults() -> None:
    assert dataclasses.is_dataclass(TrainingArguments)
    assert dataclasses.is_dataclass(TrainingArguments(output_dir="o"))
    assert dataclasses.is_dataclass(Seq2SeqTrainingArguments)
    assert TrainingArguments.learning_rate == 5e-5
    assert TrainingArguments.per_device_train_batch_size == 8
    assert TrainingArguments.output_dir is None
    assert Seq2SeqTrainingArguments.predict_with_generate is False
    assert Seq2SeqTrainingArguments.learning_rate == 5e-5
    names = [f.name for f in dataclasses.fields(TrainingArguments)]
    assert names == [a.name for a in attrs.fields(TrainingArguments) if a.init]
    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(TrainingArguments)}
    assert helps["learning_rate"] == "Initial (peak) learning rate."


@pytest.mark.reference
def test_fields_and_class_defaults_match_transformers(hf: Any) -> None:
    ours = dataclasses.fields(TrainingArguments)
    theirs = dataclasses.fields(hf.TrainingArguments)
    assert [f.name for f in ours] == [f.name for f in theirs]
    assert [f.default for f in ours] == [f.default for f in theirs]
    assert [f.default_factory() for f in ours if f.default_factory is not dataclasses.MISSING] == [
        f.default_factory() for f in theirs if f.default_factory is not dataclasses.MISSING
    ]
    for f in theirs:
        assert hasattr(TrainingArguments, f.name) == hasattr(hf.TrainingArguments, f.name), f.name
        if hasattr(hf.TrainingArguments, f.name):
            assert getattr(TrainingArguments, f.name) == getattr(hf.TrainingArguments, f.name)
    s2s = [f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)]
    assert s2s == [f.name for f in dataclasses.fields(hf.Seq2SeqTrainingArguments)]
    assert (
        TrainingArguments.__dataclass_params__.init
        == hf.TrainingArguments.__dataclass_params__.init
    )
    assert TrainingArguments.__dataclass_params__.eq == hf.TrainingArguments.__dataclass_params__.eq


def test_asdict_and_replace_on_our_class() -> None:
    args = TrainingArguments(
        output_dir="out", learning_rate=1e-3, accelerator_config={"split_batches": True}
    )
    as_dict = dataclasses.asdict(args)
    assert list(as_dict) == [f.name for f in dataclasses.fields(args)]
    assert as_dict["learning_rate"] == 1e-3
    assert as_dict["accelerator_config"]["split_batches"] is True  # nested config: a dict too
    changed = dataclasses.replace(args, learning_rate=2e-3)
    assert type(changed) is TrainingArguments
    assert changed.learning_rate == 2e-3
    assert changed.to_dict() == {**args.to_dict(), "learning_rate": 2e-3}
    assert args.learning_rate == 1e-3
    with pytest.raises(ValidationError, match="learning_rate"):
        dataclasses.replace(args, learning_rate="fast")


@pytest.mark.skipif(sys.version_info < (3, 13), reason="copy.replace is new in Python 3.13")
def test_copy_replace() -> None:
    args = TrainingArguments(output_dir="out")
    assert copy.replace(args, seed=7).seed == 7  # type: ignore[attr-defined]


# ---------------------------------------------------------------- @dataclass subclasses


def test_alpaca_subclass_appends_fields_and_chains_post_init() -> None:
    cls = alpaca_arguments(TrainingArguments)
    args = cls(output_dir="out", model_max_length=128, learning_rate=2e-5)
    assert args.post_init_calls == 1
    assert (args.model_max_length, args.learning_rate, args.cache_dir) == (128, 2e-5, None)
    assert args.optim.value == "adamw_torch"  # the base's normalisation ran on the override
    assert args.report_to == []  # ... and its defaults
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[-2:] == ["cache_dir", "model_max_length"]
    assert names.index("optim") == [f.name for f in dataclasses.fields(TrainingArguments)].index(
        "optim"
    )
    assert cls.model_max_length == 512
    assert cls.optim == "adamw_torch"
    assert args.to_dict()["model_max_length"] == 128
    assert dataclasses.asdict(args)["model_max_length"] == 128
    assert "model_max_length=128" in str(args)
    copied = dataclasses.replace(args, model_max_length=64)
    assert (type(copied), copied.model_max_length, copied.learning_rate) == (cls, 64, 2e-5)
    assert copied.post_init_calls == 1
    assert copy.deepcopy(args) == args


def test_subclass_still_runs_the_base_validation() -> None:
    cls = alpaca_arguments(TrainingArguments)
    with pytest.raises(ValidationError) as error:
        cls(output_dir="out", eval_strategy="sometimes")
    assert error.value.errors[0].field == "eval_strategy"
    with pytest.raises(ValidationError, match="save_steps"):
        cls(
            output_dir="o",
            load_best_model_at_end=True,
            eval_strategy="steps",
            eval_steps=3,
            save_steps=4,
        )


def test_positional_output_dir_as_in_transformers() -> None:
    assert alpaca_arguments(TrainingArguments)("positional").output_dir == "positional"


@pytest.mark.reference
def test_alpaca_subclass_matches_transformers(hf: Any) -> None:
    ours_cls, theirs_cls = (
        alpaca_arguments(TrainingArguments),
        alpaca_arguments(hf.TrainingArguments),
    )
    kwargs = {
        "output_dir": "out",
        "model_max_length": 256,
        "learning_rate": 2e-5,
        "warmup_steps": 0.03,
    }
    ours, theirs = ours_cls(**kwargs), theirs_cls(**kwargs)
    assert [f.name for f in dataclasses.fields(ours)] == [
        f.name for f in dataclasses.fields(theirs)
    ]
    assert _plain(ours.to_dict()) == _plain(theirs.to_dict())
    changed_ours = dataclasses.replace(ours, model_max_length=8)
    changed_theirs = dataclasses.replace(theirs, model_max_length=8)
    assert _plain(changed_ours.to_dict()) == _plain(changed_theirs.to_dict())
    assert (ours_cls.model_max_length, ours_cls.optim) == (
        theirs_cls.model_max_length,
        theirs_cls.optim,
    )


def test_trl_style_config_overrides_defaults() -> None:
    cls = trl_config(TrainingArguments)
    config = cls(output_dir="out", fp16=False, model_init_kwargs='{"dtype": "float32"}')
    assert (config.learning_rate, config.logging_steps, config.bf16) == (2e-5, 10, True)
    assert config.model_init_kwargs == {"dtype": "float32"}  # the subclass's dict field was parsed
    assert config.max_length == 1024
    assert cls.learning_rate == 2e-5
    assert TrainingArguments.learning_rate == 5e-5
    names = [f.name for f in dataclasses.fields(cls)]
    assert names.index("learning_rate") == 4  # an override keeps the base field's place
    assert names[-3:] == ["model_init_kwargs", "max_length", "packing"]
    helps = {f.name: f.metadata.get("help") for f in dataclasses.fields(cls)}
    assert helps["learning_rate"] == "Overridden default."


@pytest.mark.reference
def test_trl_style_config_matches_transformers(hf: Any) -> None:
    ours = trl_config(TrainingArguments)(output_dir="out", max_length=64, use_cpu=True)
    theirs = trl_config(hf.TrainingArguments)(output_dir="out", max_length=64, use_cpu=True)
    assert _plain(ours.to_dict()) == _plain(theirs.to_dict())


def test_attrs_subclass_works_too() -> None:
    @attrs.define
    class WithExtra(TrainingArguments):
        lora_rank: int = attrs.field(default=8, metadata={"help": "LoRA rank."})

        def __attrs_post_init__(self) -> None:
            super().__attrs_post_init__()
            self.lora_alpha = 2 * self.lora_rank

    args = WithExtra(output_dir="out", lora_rank=4, logging_steps=5)
    assert (args.lora_rank, args.lora_alpha, args.logging_steps) == (4, 8, 5)
    assert [f.name for f in dataclasses.fields(WithExtra)][-1] == "lora_rank"
    assert dataclasses.asdict(args)["lora_rank"] == 4
    assert dataclasses.replace(args, lora_rank=16).lora_alpha == 32
    assert args.to_dict()["lora_rank"] == 4
    with pytest.raises(ValidationError, match="eval_strategy"):
        WithExtra(output_dir="out", eval_strategy="sometimes")


def test_seq2seq_subclass() -> None:
    @dataclass
    class GenerationArguments(Seq2SeqTrainingArguments):
        max_target_length: int = field(default=128, metadata={"help": "Target length."})

    args = GenerationArguments(output_dir="out", predict_with_generate=True, max_target_length=32)
    names = [f.name for f in dataclasses.fields(args)]
    assert names[-6:] == [
        "sortish_sampler",
        "predict_with_generate",
        "generation_max_length",
        "generation_num_beams",
        "generation_config",
        "max_target_length",
    ]
    assert args.predict_with_generate and args.max_target_length == 32
    assert GenerationArguments.generation_num_beams is None


# ----------------------------------------------------- parser, schema, CLI see the subclass


ALPACA_ARGV = [
    "--model_name_or_path", "tiny",
    "--data_path", "alpaca.json",
    "--output_dir", "out",
    "--num_train_epochs", "3",
    "--per_device_train_batch_size", "4",
    "--gradient_accumulation_steps", "8",
    "--learning_rate", "2e-5",
    "--warmup_ratio", "0.03",
    "--lr_scheduler_type", "cosine",
    "--model_max_length", "512",
]  # fmt: skip


def _alpaca_argv() -> list[str]:
    # warmup_ratio is gone in transformers 5 (warmup_steps takes ratios below 1).
    argv = list(ALPACA_ARGV)
    at = argv.index("--warmup_ratio")
    argv[at : at + 2] = ["--warmup_steps", "0.03"]
    return argv


def test_parser_with_three_dataclasses() -> None:
    cls = alpaca_arguments(TrainingArguments)
    parser = ArgumentParser((ModelArguments, DataArguments, cls))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(
        _alpaca_argv(), look_for_args_file=False
    )
    assert model_args.model_name_or_path == "tiny"
    assert data_args.data_path == "alpaca.json"
    assert type(training_args) is cls
    assert training_args.model_max_length == 512
    assert training_args.gradient_accumulation_steps == 8
    assert training_args.lr_scheduler_type.value == "cosine"
    assert training_args.post_init_calls == 1
    help_text = parser.format_help()
    assert "--model_max_length" in help_text
    assert "Maximum sequence length." in help_text
    (from_dict,) = ArgumentParser(cls).parse_dict({"output_dir": "o", "model_max_length": "64"})
    assert from_dict.model_max_length == 64


@pytest.mark.reference
def test_parser_matches_hf_argument_parser(hf: Any) -> None:
    ours = ArgumentParser((ModelArguments, DataArguments, alpaca_arguments(TrainingArguments)))
    theirs = hf.HfArgumentParser(
        (ModelArguments, DataArguments, alpaca_arguments(hf.TrainingArguments))
    )
    argv = _alpaca_argv()
    parsed_ours = ours.parse_args_into_dataclasses(argv, look_for_args_file=False)
    parsed_theirs = theirs.parse_args_into_dataclasses(argv, look_for_args_file=False)
    assert parsed_ours[:2] == parsed_theirs[:2]
    assert _plain(parsed_ours[2].to_dict()) == _plain(parsed_theirs[2].to_dict())
    ours_flags = {s for a in ours._actions for s in a.option_strings}
    theirs_flags = {s for a in theirs._actions for s in a.option_strings}
    assert ours_flags == theirs_flags


def test_json_and_yaml_files_fill_subclass_fields(tmp_path: Any) -> None:
    cls = alpaca_arguments(TrainingArguments)
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"output_dir": "o", "model_max_length": 99, "data_path": "d.json"}))
    _, data_args, args = ArgumentParser((ModelArguments, DataArguments, cls)).parse_json_file(path)
    assert (args.model_max_length, data_args.data_path) == (99, "d.json")
    assert cls.from_dict(args.to_dict()).model_max_length == 99
    pytest.importorskip("yaml")
    yaml_path = tmp_path / "args.yaml"
    yaml_path.write_text("output_dir: o\nmodel_max_length: 77\n")
    (from_yaml,) = ArgumentParser(cls).parse_yaml_file(yaml_path)
    assert from_yaml.model_max_length == 77


def test_json_schema_describes_subclass_fields() -> None:
    schema = json_schema(alpaca_arguments(TrainingArguments))
    assert schema["properties"]["model_max_length"] == {
        "type": "integer",
        "default": 512,
        "description": MAX_LENGTH_HELP,
    }
    assert schema["properties"]["cache_dir"]["default"] is None
    assert "learning_rate" in schema["properties"]


def test_cli_takes_a_subclass(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    (tmp_path / "my_train.py").write_text(
        "from dataclasses import dataclass, field\n"
        "from trainer_args import TrainingArguments\n\n\n"
        "@dataclass\nclass MyArgs(TrainingArguments):\n"
        "    model_max_length: int = field(default=512, metadata={'help': 'Max length.'})\n"
    )
    (tmp_path / "run.json").write_text('{"output_dir": "o", "model_max_length": 5}')
    (tmp_path / "bad.json").write_text('{"output_dir": "o", "model_max_lenght": 5}')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cli_main(["show", "run.json", "--class", "my_train:MyArgs"]) == 0
    assert json.loads(capsys.readouterr().out)["model_max_length"] == 5
    assert cli_main(["schema", "--class", "my_train:MyArgs"]) == 0
    assert "model_max_length" in json.loads(capsys.readouterr().out)["properties"]
    assert cli_main(["validate", "bad.json", "--class", "my_train:MyArgs"]) == 1
    assert "model_max_length" in capsys.readouterr().err  # the suggestion names the subclass field
    assert cli_main(["show", "--class", "my_train:Nope"]) == 1
    assert "cannot import" in capsys.readouterr().err
