"""The per-step shortcuts keep every observable result: logs, weights, hooks and warnings.

Each shortcut (see trainer_dist.step_plan, LossAccumulator, CallbackHandler.call_event,
RemoveColumnsCollator, the skipped empty loss context and the inline input placement) is
compared with the path it replaces, or checked to step aside when a user has patched what it
would skip.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from trainer_args import TrainingArguments
from trainer_loop import Trainer, TrainerCallback
from trainer_loop.data import RemoveColumnsCollator, default_data_collator


class FaultyRegression(nn.Module):
    """A linear regression whose loss value is NaN/inf on chosen forward calls.

    The non-finite value is added, so the gradient stays the finite one of the real loss (a
    bad batch that does not poison the weights): the runs can be compared weight for weight.
    """

    def __init__(self, faults: dict[int, float]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 1)
        self.faults = faults
        self.calls = 0

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls += 1
        loss = nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)
        if self.calls in self.faults:
            loss = loss + self.faults[self.calls]  # NaN or inf; d(loss)/d(weights) unchanged
        return {"loss": loss}


def _data(n: int = 64) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g)
    return [{"x": x[i], "labels": x[i].sum()} for i in range(n)]


def _args(tmp_path: Path, **overrides: Any) -> TrainingArguments:
    kwargs: dict[str, Any] = dict(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", disable_tqdm=True,
        save_strategy="no", per_device_train_batch_size=4, learning_rate=0.01,
        logging_steps=5, max_steps=16, train_sampling_strategy="sequential", seed=3,
    )  # fmt: skip
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


class EagerFilterTrainer(Trainer):
    """Overriding `_maybe_log_save_evaluate` makes the NaN/Inf filter run on every step."""

    def _maybe_log_save_evaluate(self, *args: Any, **kwargs: Any) -> None:
        super()._maybe_log_save_evaluate(*args, **kwargs)


@pytest.mark.parametrize("ga", [1, 2])
@pytest.mark.parametrize("faults", [{}, {3: math.nan, 7: math.inf}, {5: math.inf, 6: math.nan}])
def test_the_deferred_nan_filter_logs_what_the_per_step_filter_logs(
    tmp_path: Path, faults: dict[int, float], ga: int
) -> None:
    histories, weights = [], []
    for cls in (Trainer, EagerFilterTrainer):
        model = FaultyRegression(dict(faults))
        trainer = cls(model=model, args=_args(tmp_path, gradient_accumulation_steps=ga),
                      train_dataset=_data())  # fmt: skip
        trainer.train()
        assert trainer._run.losses.lazy is (cls is Trainer)
        histories.append([{k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}
                          for e in trainer.state.log_history])  # fmt: skip
        weights.append(model.linear.weight.detach().clone())
    lazy, eager = histories
    assert len(lazy) == len(eager)
    for a, b in zip(lazy, eager):
        assert a.keys() == b.keys()
        for key in a:
            same = a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key]))
            assert same, (key, a, b)
    if faults:
        assert all(math.isfinite(e["loss"]) for e in lazy if "loss" in e), lazy
    assert torch.isfinite(weights[0]).all(), weights[0]
    assert torch.equal(weights[0], weights[1])


def test_no_scheduler_order_warning_and_the_optimizer_steps(tmp_path: Path) -> None:
    """The optimizer is stepped directly, and the LR scheduler still sees that it ran."""
    model = FaultyRegression({})
    before = model.linear.weight.detach().clone()
    trainer = Trainer(model=model, args=_args(tmp_path), train_dataset=_data())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]
    assert not torch.equal(before, model.linear.weight)
    assert trainer._step_plan().inner is not None
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0  # linear decay reached its end


class CountSteps(TrainerCallback):
    """Wraps the prepared optimizer's `step` on the instance once training starts."""

    def __init__(self) -> None:
        self.calls = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        optimizer = kwargs["optimizer"]
        original = optimizer.step

        def step(*a: Any, **k: Any) -> Any:
            self.calls += 1
            return original(*a, **k)

        optimizer.step = step


def test_an_optimizer_step_patched_on_the_instance_is_called(tmp_path: Path) -> None:
    counter = CountSteps()
    trainer = Trainer(model=FaultyRegression({}), args=_args(tmp_path), train_dataset=_data(),
                      callbacks=[counter])  # fmt: skip
    trainer.train()
    assert counter.calls == 16


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps.append(state.global_step)


class AddsAndRemoves(TrainerCallback):
    """Adds a recorder at step 4 and removes it at step 10, from inside the loop."""

    def __init__(self, trainer: Trainer, recorder: Recorder) -> None:
        self.trainer, self.recorder = trainer, recorder

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 4:
            self.trainer.add_callback(self.recorder)
        if state.global_step == 10:
            self.trainer.remove_callback(self.recorder)


def test_callbacks_added_and_removed_during_training_take_effect(tmp_path: Path) -> None:
    recorder = Recorder()
    trainer = Trainer(model=FaultyRegression({}), args=_args(tmp_path), train_dataset=_data())
    trainer.add_callback(AddsAndRemoves(trainer, recorder))
    trainer.train()
    assert recorder.steps == [5, 6, 7, 8, 9, 10]


def test_the_default_collator_drops_unused_keys_without_touching_the_dataset() -> None:
    features = [
        {"x": torch.ones(2), "labels": torch.tensor(1.0), "text": "a"},
        {"x": torch.zeros(2), "labels": torch.tensor(2.0), "text": "b", "extra": 5},
    ]
    snapshot = [dict(f) for f in features]
    collator = RemoveColumnsCollator(default_data_collator, ["x", "labels"])
    batch = collator(features)
    assert sorted(batch) == ["labels", "x"]
    assert torch.equal(batch["x"], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    assert features == snapshot  # the dataset's own dicts are unchanged
    # The same keys as a collator that filters every feature (transformers' way).
    filtered = [{k: v for k, v in f.items() if k in ("x", "labels")} for f in features]
    expected = default_data_collator(filtered)
    assert batch.keys() == expected.keys()
    assert all(torch.equal(batch[k], expected[k]) for k in batch)


class UndetachedLoss(Trainer):
    """A training_step override that returns the loss with its graph (a common slip)."""

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        loss = model(**inputs)["loss"]
        loss.backward()
        return loss


def test_a_loss_returned_with_its_graph_is_not_kept_until_the_log(tmp_path: Path) -> None:
    trainer = UndetachedLoss(model=FaultyRegression({}), args=_args(tmp_path, logging_steps=8),
                             train_dataset=_data())  # fmt: skip
    seen: list[bool] = []

    class Inspect(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            seen.extend(loss.requires_grad for loss, _ in trainer._run.losses._pending)

    trainer.add_callback(Inspect())
    trainer.train()
    assert seen and not any(seen)
    assert [e["loss"] for e in trainer.state.log_history if "loss" in e]  # logged as usual


class _Recorder:
    """A context manager that counts how often it is entered."""

    def __init__(self) -> None:
        self.entered = 0

    def __enter__(self) -> None:
        self.entered += 1

    def __exit__(self, *exc: Any) -> None:
        return None


class AutocastHookTrainer(Trainer):
    """Overrides `autocast_smart_context_manager`, as trainers that add their own autocast do."""

    recorder = _Recorder()

    def autocast_smart_context_manager(self, cache_enabled: bool | None = True) -> Any:
        return self.recorder


class StackHookTrainer(Trainer):
    """Enters a context into the stack the base class builds (the TRL DPO pattern)."""

    recorder = _Recorder()

    def compute_loss_context_manager(self) -> Any:
        stack = super().compute_loss_context_manager()
        stack.enter_context(self.recorder)
        return stack


@pytest.mark.parametrize("cls", [AutocastHookTrainer, StackHookTrainer])
def test_an_overridden_loss_context_is_entered_every_micro_batch(
    tmp_path: Path, cls: type[Trainer]
) -> None:
    recorder = _Recorder()
    trainer = cls(model=FaultyRegression({}), args=_args(tmp_path, gradient_accumulation_steps=2),
                  train_dataset=_data())  # fmt: skip
    trainer.recorder = recorder  # type: ignore[attr-defined]
    trainer.train()
    assert trainer._run is not None and not trainer._run.loss_context_is_empty
    assert recorder.entered == 32  # 16 steps of 2 micro-batches


def test_a_loss_context_patched_on_the_instance_is_entered(tmp_path: Path) -> None:
    recorder = _Recorder()
    trainer = Trainer(model=FaultyRegression({}), args=_args(tmp_path), train_dataset=_data())
    trainer.compute_loss_context_manager = lambda: recorder  # type: ignore[method-assign]
    trainer.train()
    assert recorder.entered == 16


def test_the_default_loss_context_is_skipped_with_the_same_weights(tmp_path: Path) -> None:
    """Skipping the empty stack changes nothing: the same weights as a run that enters it."""
    weights = []
    for cls in (Trainer, StackHookTrainer):
        model = FaultyRegression({})
        trainer = cls(model=model, args=_args(tmp_path), train_dataset=_data())
        trainer.recorder = _Recorder()  # type: ignore[attr-defined]
        trainer.train()
        assert trainer._run is not None
        assert trainer._run.loss_context_is_empty is (cls is Trainer)
        weights.append([p.detach().clone() for p in model.parameters()])
    for ours, reference in zip(*weights):
        assert torch.equal(ours, reference)


class InputsHookTrainer(Trainer):
    """Overrides `_prepare_inputs` (scripts add keys or move custom types there)."""

    calls = 0

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        type(self).calls += 1
        return super()._prepare_inputs(inputs)


class InputHookTrainer(Trainer):
    """Overrides `_prepare_input`, the per-value hook transformers recurses through."""

    calls = 0

    def _prepare_input(self, data: Any) -> Any:
        type(self).calls += 1
        return super()._prepare_input(data)


@pytest.mark.parametrize("cls", [InputsHookTrainer, InputHookTrainer])
def test_overridden_input_hooks_run_every_micro_batch(tmp_path: Path, cls: Any) -> None:
    cls.calls = 0
    trainer = cls(model=FaultyRegression({}), args=_args(tmp_path, gradient_accumulation_steps=2),
                  train_dataset=_data())  # fmt: skip
    trainer.train()
    assert trainer._run is not None and trainer._run.input_placement is None
    assert cls.calls == 32


def test_an_input_hook_patched_on_the_instance_runs(tmp_path: Path) -> None:
    trainer = Trainer(model=FaultyRegression({}), args=_args(tmp_path), train_dataset=_data())
    seen: list[dict[str, Any]] = []
    default = trainer._prepare_inputs

    def record(inputs: dict[str, Any]) -> dict[str, Any]:
        seen.append(inputs)
        return default(inputs)

    trainer._prepare_inputs = record  # type: ignore[method-assign]
    trainer.train()
    assert len(seen) == 16


class NoKeysCollator:
    """Returns an empty batch: the Trainer must say so, as transformers does."""

    def __call__(self, features: list[Any]) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("cls", [Trainer, InputsHookTrainer])
def test_an_empty_batch_is_a_clear_error_on_both_paths(tmp_path: Path, cls: Any) -> None:
    trainer = cls(model=FaultyRegression({}), args=_args(tmp_path, remove_unused_columns=False),
                  train_dataset=_data(), data_collator=NoKeysCollator())  # fmt: skip
    with pytest.raises(ValueError, match="The batch received was empty"):
        trainer.train()
    assert trainer._run is not None
    assert (trainer._run.input_placement is not None) is (cls is Trainer)
