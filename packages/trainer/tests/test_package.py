"""The umbrella package: lazy re-exports, versions, `import trainer` without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import trainer


def test_all_lists_every_export_and_alias() -> None:
    expected = {*trainer._EXPORTS, *trainer._ALIASES, "__version__", "versions"}
    assert set(trainer.__all__) == expected


def test_import_trainer_does_not_import_torch() -> None:
    code = "import sys, trainer; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        _ = trainer.Trainr  # type: ignore[attr-defined]


def test_versions_names_every_layer_and_runtime_dependency() -> None:
    found = trainer.versions()
    for name in ("trainer", "trainer-args", "trainer-dist", "trainer-loop", "trainer-seq2seq"):
        assert found[name] == "0.1.0" or found[name][0].isdigit()
    assert found["trainer"] == trainer.__version__
    assert found["torch"].split("+")[0].count(".") >= 1
    assert found["accelerate"][0].isdigit()


def test_version_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"trainer {trainer.__version__}"


DOCUMENTED = [
    "Trainer",
    "TrainingArguments",
    "Seq2SeqTrainer",
    "Seq2SeqTrainingArguments",
    "TrainerCallback",
    "TrainerState",
    "TrainerControl",
    "DefaultFlowCallback",
    "ProgressCallback",
    "PrinterCallback",
    "EarlyStoppingCallback",
    "EvalPrediction",
    "PredictionOutput",
    "TrainOutput",
    "ModelOutput",
    "ArgumentParser",
    "HfArgumentParser",
    "set_seed",
    "IntervalStrategy",
    "SaveStrategy",
    "SchedulerType",
    "OptimizerNames",
    "HubStrategy",
    "FSDPOption",
]


@pytest.mark.parametrize("name", sorted(set(trainer.__all__) - {"__version__", "versions"}))
def test_every_export_is_the_defining_layers_object(name: str) -> None:
    import importlib

    target = trainer._ALIASES.get(name, name)
    defining = importlib.import_module(trainer._EXPORTS[target])
    assert getattr(trainer, name) is getattr(defining, target)


def test_documented_api_imports_in_one_statement() -> None:
    namespace: dict[str, object] = {}
    exec(f"from trainer import {', '.join(DOCUMENTED)}", namespace)
    assert namespace["HfArgumentParser"] is namespace["ArgumentParser"]
    assert set(DOCUMENTED) <= set(trainer.__all__) and set(DOCUMENTED) <= set(dir(trainer))


def test_enums_compare_equal_to_their_values() -> None:
    assert trainer.IntervalStrategy("steps") == "steps"
    assert trainer.SchedulerType.LINEAR == "linear"
