"""Trainer features outside the core loop: construction, metrics helpers, callbacks, options."""

from __future__ import annotations

import copy
import json
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from trainer_support import (
    RaggedTokenDataset,
    RegressionDataset,
    RegressionModel,
    TinyTokenModel,
    assert_same_logs,
    base_kwargs,
    build_ours,
    build_reference,
    pad_collator,
    run_both,
    tiny_gpt2,
)

from trainer_loop import Trainer, TrainerCallback


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return RegressionModel()


def test_default_arguments_and_seed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.accelerate_state import reset_accelerate

    monkeypatch.chdir(tmp_path)
    reset_accelerate()
    random.seed(0)
    trainer = Trainer(model=_model())
    assert trainer.args.output_dir.endswith("tmp_trainer") and (tmp_path / "tmp_trainer").is_dir()
    state = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(42), np.random.seed(42), torch.manual_seed(42)
    assert state == (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_use_cache_is_set_on_the_model_config(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.config.use_cache = True
    build_ours(model, base_kwargs(tmp_path))
    assert model.config.use_cache is False


def test_metrics_format_works_as_a_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer = build_ours(_model(), base_kwargs(tmp_path))
    metrics = {"train_runtime": 3725.5, "total_flos": 3 * 2**30, "eval_mem_cpu_alloc_delta": 5 * 2**20,
               "train_loss": 0.123456789, "epoch": 2}  # fmt: skip
    formatted = trainer.metrics_format(metrics)  # transformers 5.24 raises TypeError here
    assert formatted == {"train_runtime": "1:02:05.50", "total_flos": "3GF", "eval_mem_cpu_alloc_delta": "5MB",
                         "train_loss": 0.1235, "epoch": 2}  # fmt: skip
    trainer.log_metrics("train", metrics)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "***** train metrics *****"
    assert [line.split("=")[0].strip() for line in lines[1:]] == sorted(metrics)
    trainer.save_metrics("train", {"a": 1.0})
    trainer.save_metrics("eval", {"b": 2.0})
    assert json.loads((tmp_path / "all_results.json").read_text()) == {"a": 1.0, "b": 2.0}
    assert json.loads((tmp_path / "eval_results.json").read_text()) == {"b": 2.0}


def test_callbacks_can_be_added_popped_and_removed(tmp_path: Path) -> None:
    from trainer_loop import DefaultFlowCallback, PrinterCallback, ProgressCallback

    class Mine(TrainerCallback):
        pass

    trainer = build_ours(_model(), base_kwargs(tmp_path), callbacks=[Mine])
    names = [type(cb).__name__ for cb in trainer.callback_handler.callbacks]
    assert names == ["DefaultFlowCallback", "Mine", "PrinterCallback"]
    popped = trainer.pop_callback(Mine)
    assert isinstance(popped, Mine) and trainer.pop_callback(Mine) is None
    trainer.add_callback(popped)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ProgressCallback())
    names = [type(cb).__name__ for cb in trainer.callback_handler.callbacks]
    assert names == ["DefaultFlowCallback", "Mine", "ProgressCallback"]
    assert isinstance(trainer.callback_handler.callbacks[0], DefaultFlowCallback)


def test_model_init_is_called_again_and_reseeded(tmp_path: Path) -> None:
    calls: list[Any] = []

    def init(trial: Any) -> torch.nn.Module:
        calls.append(trial)
        return RegressionModel()

    kwargs = base_kwargs(tmp_path, max_steps=2)
    trainer = build_ours(None, kwargs, model_init=init, train_dataset=RegressionDataset(n=8))  # type: ignore[arg-type]
    first = trainer.train()
    second = trainer.train()
    assert calls == [None, None, None]
    assert first.training_loss == second.training_loss  # same seed -> same initial weights
    assert trainer.state.global_step == 2  # a second train() restarts from step 0


def test_user_optimizer_and_optimizer_cls_and_kwargs(tmp_path: Path) -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    trainer = build_ours(
        model,
        base_kwargs(tmp_path, max_steps=2),
        optimizers=(optimizer, None),
        train_dataset=RegressionDataset(n=8),
    )
    trainer.train()
    assert (
        type(trainer.optimizer).__name__ == "AcceleratedOptimizer"
        and trainer.optimizer.optimizer is optimizer
    )
    assert trainer.state.log_history[0]["learning_rate"] == pytest.approx(0.3)

    trainer = build_ours(
        _model(),
        base_kwargs(tmp_path, max_steps=1, weight_decay=0.1),
        optimizer_cls_and_kwargs=(torch.optim.SGD, {"lr": 0.5, "momentum": 0.9}),
        train_dataset=RegressionDataset(n=8),
    )
    trainer.train()
    groups = trainer.optimizer.param_groups
    assert [g["lr"] for g in groups] == [0.5, 0.5] or trainer.state.log_history[0][
        "learning_rate"
    ] == 0.5
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0] and groups[0]["momentum"] == 0.9
    assert trainer.get_decay_parameter_names(trainer.model) == ["linear.weight", "head.weight"]


def test_num_input_tokens_seen_matches_transformers(tmp_path: Path) -> None:
    for mode in ("all", "non_padding"):
        kwargs = base_kwargs(
            tmp_path, include_num_input_tokens_seen=mode, max_steps=2, logging_steps=1
        )
        torch.manual_seed(0)
        model = TinyTokenModel()
        data = RaggedTokenDataset(n=8)
        ref = build_reference(
            copy.deepcopy(model), kwargs, train_dataset=data, data_collator=pad_collator
        )
        ref.train()
        ours = build_ours(
            copy.deepcopy(model), kwargs, train_dataset=data, data_collator=pad_collator
        )
        ours.train()
        assert ours.state.num_input_tokens_seen == ref.state.num_input_tokens_seen > 0
        assert_same_logs(ref.state.log_history, ours.state.log_history)


def test_neftune_hook_is_active_only_during_training(tmp_path: Path) -> None:
    seen: list[int] = []

    class Spy(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(len(kwargs["model"].embed._forward_hooks))

    torch.manual_seed(0)
    model = TinyTokenModel()
    trainer = build_ours(
        model, base_kwargs(tmp_path, max_steps=2, neftune_noise_alpha=5.0),
        train_dataset=RaggedTokenDataset(n=8), data_collator=pad_collator, callbacks=[Spy()],
    )  # fmt: skip
    trainer.train()
    assert seen == [1, 1]
    assert len(model.embed._forward_hooks) == 0 and not hasattr(model.embed, "neftune_noise_alpha")


def test_activation_checkpointing_is_enabled_at_train_start(tmp_path: Path) -> None:
    class Checkpointable(RegressionModel):
        enabled_with: dict[str, Any] | None = None

        def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
            type(self).enabled_with = kwargs

    torch.manual_seed(0)
    trainer = build_ours(
        Checkpointable(), base_kwargs(tmp_path, max_steps=1, activation_checkpointing=True),
        train_dataset=RegressionDataset(n=4),
    )  # fmt: skip
    with pytest.warns(FutureWarning, match="gradient_checkpointing_enable"):
        trainer.train()
    assert Checkpointable.enabled_with == {
        "gradient_checkpointing_kwargs": None,
        "every_n_layers": 1,
        "offload": False,
    }


def test_torch_empty_cache_steps_and_flops(tmp_path: Path) -> None:
    kwargs = base_kwargs(
        tmp_path, max_steps=2, torch_empty_cache_steps=1, per_device_train_batch_size=2
    )
    data = RaggedTokenDataset(n=4, vocab=50)
    model = tiny_gpt2()
    ref, ours, _, _ = run_both(model, kwargs, train_dataset=data, data_collator=pad_collator)
    assert ours.state.total_flos == ref.state.total_flos > 0
    assert ours.floating_point_ops({"input_ids": torch.zeros(2, 3)}) == ref.floating_point_ops(
        {"input_ids": torch.zeros(2, 3)}
    )
    assert ours.floating_point_ops({"x": torch.zeros(2, 3)}) == 0


def test_auto_find_batch_size_retries_after_oom(tmp_path: Path) -> None:
    sizes: list[int] = []

    class OomAbove4(RegressionModel):
        def forward(self, x, labels=None):  # type: ignore[no-untyped-def,override]
            sizes.append(x.shape[0])
            if x.shape[0] > 4:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().forward(x, labels)

    torch.manual_seed(0)
    kwargs = base_kwargs(
        tmp_path, per_device_train_batch_size=8, auto_find_batch_size=True, max_steps=2
    )
    trainer = build_ours(OomAbove4(), kwargs, train_dataset=RegressionDataset(n=16))
    trainer.train()
    assert sizes[0] == 8 and trainer._train_batch_size <= 4 and trainer.state.train_batch_size <= 4


def test_torch_compile_runs(tmp_path: Path) -> None:
    kwargs = base_kwargs(tmp_path, max_steps=2, torch_compile=True, torch_compile_backend="eager")
    trainer = build_ours(_model(), kwargs, train_dataset=RegressionDataset(n=8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = trainer.train()
    assert out.global_step == 2 and np.isfinite(out.training_loss)


def test_predict_and_evaluate_memory_metrics(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    kwargs = base_kwargs(tmp_path, skip_memory_metrics=False, max_steps=1)
    trainer = build_ours(
        _model(), kwargs, train_dataset=RegressionDataset(n=4), eval_dataset=RegressionDataset(n=4)
    )
    metrics = trainer.evaluate()
    assert "before_init_mem_cpu" in metrics and "eval_mem_cpu_alloc_delta" in metrics
    train_metrics = trainer.train().metrics
    assert "train_mem_cpu_peaked_delta" in train_metrics


def test_special_tokens_are_aligned_like_transformers() -> None:
    pytest.importorskip("transformers")  # the reference; absent in `nox -s lowest`
    from transformers.trainer_utils import align_special_tokens as reference

    from trainer_loop.special_tokens import align_special_tokens

    class Tokenizer:
        eos_token_id, bos_token_id, pad_token_id = 7, None, 9

    for eos in (2, [2, 3], 7):
        model = tiny_gpt2()
        model.config.eos_token_id = eos
        model.generation_config.eos_token_id = eos
        expected = copy.deepcopy(model)
        reference(expected, Tokenizer())
        updated = align_special_tokens(model, Tokenizer())
        for name in ("eos_token_id", "bos_token_id", "pad_token_id"):
            assert getattr(model.config, name) == getattr(expected.config, name)
            assert getattr(model.generation_config, name) == getattr(
                expected.generation_config, name
            )
        assert updated["pad_token_id"] == 9
    assert align_special_tokens(RegressionModel(), Tokenizer()) == {}


def test_log_level_sets_the_library_loggers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    before = logging.getLogger("trainer_loop").level
    try:
        kwargs = base_kwargs(tmp_path, max_steps=1, log_level="info")
        trainer = build_ours(_model(), kwargs, train_dataset=RegressionDataset(n=4))
        assert logging.getLogger("trainer_loop").level == logging.INFO
        with caplog.at_level(logging.INFO):
            trainer.train()
        assert "***** Running training *****" in caplog.text
    finally:
        for name in ("trainer", "trainer_args", "trainer_dist", "trainer_loop", "trainer_seq2seq"):
            logging.getLogger(name).setLevel(before)


def test_training_mode_is_restored_after_evaluation_under_a_wrapper(tmp_path: Path) -> None:
    class Wrapper(
        torch.nn.Module
    ):  # stands for DDP: its own `training` flag stays True during eval
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

        def forward(self, **kwargs: Any) -> Any:
            return self.module(**kwargs)

    trainer = build_ours(_model(), base_kwargs(tmp_path), train_dataset=RegressionDataset(n=4))
    trainer.create_optimizer()
    wrapper = Wrapper(trainer.model)
    trainer.model.eval()  # what evaluation does to the unwrapped model
    assert wrapper.training and not trainer.model.training
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.training_step(wrapper, batch)
    assert trainer.model.training
