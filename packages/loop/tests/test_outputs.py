"""EvalPrediction, the result NamedTuples and ModelOutput, checked against transformers."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest
import torch
import transformers
from accelerate.utils import send_to_device
from torch.utils import _pytree
from transformers import trainer_utils

from trainer_loop.outputs import (
    BestRun,
    EvalLoopOutput,
    EvalPrediction,
    ModelOutput,
    PredictionOutput,
    TrainOutput,
)

PRED = np.arange(6).reshape(2, 3)
LABELS = np.array([1, 2])
INPUTS = np.array([[5, 6]])
LOSSES = np.array([0.5, 0.25])


def _behaviour(cls: type, **extras: object) -> list[object]:
    """Everything a compute_metrics function can observe: iteration and each index."""
    p = cls(PRED, LABELS, **extras)
    seen: list[object] = [[id(x) for x in p], p.predictions is PRED, p.inputs, p.losses]
    for idx in range(-2, 6):
        try:
            seen.append(id(p[idx]))
        except IndexError as err:
            seen.append(("IndexError", str(err)))
    return seen


@pytest.mark.parametrize(
    "extras",
    [{}, {"inputs": INPUTS}, {"losses": LOSSES}, {"inputs": INPUTS, "losses": LOSSES}],
    ids=["plain", "inputs", "losses", "both"],
)
def test_eval_prediction_matches_transformers(extras: dict[str, object]) -> None:
    assert _behaviour(EvalPrediction, **extras) == _behaviour(transformers.EvalPrediction, **extras)


def test_eval_prediction_unpacks_like_a_tuple() -> None:
    preds, labels = EvalPrediction(PRED, LABELS)
    assert preds is PRED and labels is LABELS
    preds, labels, losses = EvalPrediction(PRED, LABELS, losses=LOSSES)
    assert losses is LOSSES


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (TrainOutput, trainer_utils.TrainOutput),
        (EvalLoopOutput, trainer_utils.EvalLoopOutput),
        (PredictionOutput, trainer_utils.PredictionOutput),
        (BestRun, trainer_utils.BestRun),
    ],
)
def test_named_tuples_have_the_same_fields_and_defaults(ours: type, theirs: type) -> None:
    assert ours._fields == theirs._fields
    assert ours._field_defaults == theirs._field_defaults


def test_train_output_is_a_tuple() -> None:
    out = TrainOutput(10, 0.5, {"train_loss": 0.5})
    step, loss, metrics = out
    assert (step, loss, metrics["train_loss"]) == (10, 0.5, 0.5)
    assert BestRun("1", 0.3, {"lr": 1e-3}).run_summary is None


@dataclasses.dataclass
class _Output(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclasses.dataclass
class _Reference(transformers.utils.ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


def _access(out: object) -> list[object]:
    o: ModelOutput = out  # type: ignore[assignment]
    seen: list[object] = [list(o.keys()), "loss" in o, "logits" in o, len(o), o.get("loss")]
    seen += [o.loss, [id(v) for v in o.to_tuple()], [id(v) for v in o[0:]], id(o[0])]
    seen += [id(o["logits"]), o.hidden_states]
    return seen


@pytest.mark.parametrize("with_loss", [True, False])
def test_model_output_dataclass_matches_transformers(with_loss: bool) -> None:
    logits = torch.ones(2, 3)
    loss = torch.tensor(1.5) if with_loss else None
    ours = _Output(loss=loss, logits=logits)
    theirs = _Reference(loss=loss, logits=logits)
    assert _access(ours) == _access(theirs)
    with pytest.raises(KeyError):
        ours["hidden_states"]
    with pytest.raises(IndexError):
        ours[2]


def test_model_output_setting_a_field_adds_it() -> None:
    out = _Output(logits=torch.zeros(1))
    out.loss = torch.tensor(2.0)
    assert list(out.keys()) == ["logits", "loss"]
    out["hidden_states"] = (torch.zeros(1),)
    assert out.hidden_states is out["hidden_states"]
    out.loss = None  # "not produced" again: dropped from the dict view
    assert "loss" not in out and out.loss is None


def test_plain_model_output_takes_kwargs() -> None:
    loss = torch.tensor(0.1)
    out = ModelOutput(loss=loss, logits=None)
    assert out.loss is loss and out[0] is loss and out["loss"] is loss
    assert out.to_tuple() == (loss,) and list(out) == ["loss"]
    with pytest.raises(AttributeError):
        _ = out.logits


def test_model_output_is_read_only_as_a_dict() -> None:
    out = ModelOutput(loss=torch.tensor(0.1))
    for call in (lambda: out.pop("loss"), lambda: out.update(a=1), lambda: out.setdefault("a")):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError):
        del out["loss"]


def test_model_output_rebuilt_from_a_mapping_survives_copies_and_devices() -> None:
    out = _Output({"loss": torch.tensor(2.0), "logits": torch.zeros(3)})
    assert out.loss.item() == 2.0 and list(out.keys()) == ["loss", "logits"]
    for clone in (copy.copy(out), copy.deepcopy(out), pickle.loads(pickle.dumps(out))):
        assert type(clone) is _Output and list(clone.keys()) == ["loss", "logits"]
        assert clone.loss.item() == 2.0
    moved = send_to_device(out, "cpu")
    assert type(moved) is _Output and moved.logits.shape == (3,)
    doubled = _pytree.tree_map(lambda t: t * 2, out)
    assert type(doubled) is _Output and doubled.loss.item() == 4.0
