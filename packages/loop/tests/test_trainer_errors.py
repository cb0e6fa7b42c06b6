"""Inputs a user can get wrong: each fails with a message saying what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from trainer_support import RegressionDataset, RegressionModel, base_kwargs, build_ours


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return RegressionModel()


def test_model_or_model_init_is_required(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="requires either a `model` or `model_init`"):
        build_ours(None, base_kwargs(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="but not both"):
        build_ours(_model(), base_kwargs(tmp_path), model_init=RegressionModel)


def test_model_must_be_a_module(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"must be a torch\.nn\.Module"):
        build_ours("bert-base", base_kwargs(tmp_path))  # type: ignore[arg-type]


def test_train_without_train_dataset(tmp_path: Path) -> None:
    ours = build_ours(_model(), base_kwargs(tmp_path))
    with pytest.raises(ValueError, match="training requires a train_dataset"):
        ours.train()
    with pytest.raises(ValueError, match="evaluation requires an eval_dataset"):
        ours.evaluate()


@pytest.mark.parametrize(
    ("optimizers", "error"),
    [
        ((None,), ValueError),
        ("adam", ValueError),
        ((object(), None), TypeError),
        ((None, 3), TypeError),
    ],
)
def test_bad_optimizers_tuple(tmp_path: Path, optimizers: Any, error: type) -> None:
    with pytest.raises(error, match="optimizers"):
        build_ours(_model(), base_kwargs(tmp_path), optimizers=optimizers)


def test_optimizer_conflicts(tmp_path: Path) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="optimizer_cls_and_kwargs"):
        build_ours(model, base_kwargs(tmp_path), optimizers=(optimizer, None),
                   optimizer_cls_and_kwargs=(torch.optim.SGD, {"lr": 0.1}))  # fmt: skip
    with pytest.raises(RuntimeError, match="model_init"):
        build_ours(
            None, base_kwargs(tmp_path), model_init=RegressionModel, optimizers=(optimizer, None)
        )  # type: ignore[arg-type]


def test_argument_combinations_checked_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="eval_dataset"):
        build_ours(_model(), base_kwargs(tmp_path, eval_strategy="steps"))
    with pytest.raises(ValueError, match="compute_result"):
        build_ours(
            _model(), base_kwargs(tmp_path, batch_eval_metrics=True), compute_metrics=lambda p: {}
        )


def test_model_without_loss_names_labels_and_outputs(tmp_path: Path) -> None:
    class NoLoss(RegressionModel):
        def forward(self, x, labels=None):  # type: ignore[no-untyped-def,override]
            return {"logits": self.head(torch.tanh(self.norm(self.linear(x))))}

    torch.manual_seed(0)
    ours = build_ours(
        NoLoss(), base_kwargs(tmp_path, max_steps=1), train_dataset=RegressionDataset(n=4)
    )
    with pytest.raises(ValueError, match=r"did not return a loss.*logits.*label keys \['labels'\]"):
        ours.train()


def test_batch_without_labels(tmp_path: Path) -> None:
    class Unlabelled(RegressionDataset):
        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"x": self.x[i]}

    ours = build_ours(_model(), base_kwargs(tmp_path, max_steps=1), train_dataset=Unlabelled(n=4))
    with pytest.raises(
        ValueError, match=r"only the following keys: logits.*inputs it received are x"
    ):
        ours.train()


def test_model_returning_none_loss(tmp_path: Path) -> None:
    class NoneLoss(RegressionModel):
        def forward(self, x, labels=None):  # type: ignore[no-untyped-def,override]
            return (None, super().forward(x)["logits"])

    torch.manual_seed(0)
    ours = build_ours(
        NoneLoss(), base_kwargs(tmp_path, max_steps=1), train_dataset=RegressionDataset(n=4)
    )
    with pytest.raises(ValueError, match="returned no loss"):
        ours.train()


def test_collator_returning_a_non_mapping(tmp_path: Path) -> None:
    def as_tuple(features: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack([f["x"] for f in features]), torch.stack([f["labels"] for f in features])

    ours = build_ours(
        _model(),
        base_kwargs(tmp_path, max_steps=1),
        train_dataset=RegressionDataset(n=4),
        data_collator=as_tuple,
    )
    with pytest.raises(TypeError, match="data collator must return a mapping"):
        ours.train()


def test_collator_must_be_callable(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="data_collator"):
        build_ours(_model(), base_kwargs(tmp_path), data_collator=42)  # type: ignore[arg-type]


def test_compute_metrics_errors_say_where_they_come_from(tmp_path: Path) -> None:
    def broken(p: Any) -> dict[str, float]:
        raise KeyError("accuracy")

    ours = build_ours(
        _model(), base_kwargs(tmp_path), eval_dataset=RegressionDataset(n=4), compute_metrics=broken
    )
    with pytest.raises(KeyError) as info:
        ours.evaluate(metric_key_prefix="dev")
    assert any(
        "compute_metrics=" in note and "broken" in note and "'dev'" in note
        for note in info.value.__notes__
    )


def test_metric_for_best_model_missing(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, eval_strategy="steps", eval_steps=1, max_steps=1, metric_for_best_model="accuracy"
    )
    ours = build_ours(
        _model(), kwargs, train_dataset=RegressionDataset(n=4), eval_dataset=RegressionDataset(n=4)
    )
    with pytest.raises(KeyError, match="eval_accuracy"):
        ours.train()


def test_hub_features_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="Hugging Face Hub is not supported"):
        build_ours(_model(), base_kwargs(tmp_path, push_to_hub=True))
    ours = build_ours(_model(), base_kwargs(tmp_path))
    with pytest.raises(NotImplementedError, match="save_model"):
        ours.push_to_hub()


def test_liger_kernel_without_the_package(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("liger-kernel is installed")
    ours = build_ours(_model(), base_kwargs(tmp_path, max_steps=1, use_liger_kernel=True),
                      train_dataset=RegressionDataset(n=4))  # fmt: skip
    with pytest.raises(ImportError, match="liger-kernel"):
        ours.train()
