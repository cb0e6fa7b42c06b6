"""save_checkpoint: layout, atomic publication, failed saves and incomplete folders."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from trainer_loop import checkpoints
from trainer_loop.checkpoints import (
    codec,
    get_last_checkpoint,
    is_complete_checkpoint,
    load_trainer_state,
    save_checkpoint,
)
from trainer_loop.schedulers import get_scheduler
from trainer_loop.state import TrainerControl, TrainerState

TRANSFORMERS_STATE_KEYS = {
    "best_global_step", "best_metric", "best_model_checkpoint", "epoch", "eval_steps",
    "global_step", "is_hyper_param_search", "is_local_process_zero", "is_world_process_zero",
    "log_history", "logging_steps", "max_steps", "num_input_tokens_seen", "num_train_epochs",
    "save_steps", "stateful_callbacks", "total_flos", "train_batch_size", "trial_name",
    "trial_params",
}  # fmt: skip


@dataclasses.dataclass
class Args:
    """The TrainingArguments fields save_checkpoint reads."""

    should_save: bool = True
    save_only_model: bool = False
    save_strategy: str = "steps"
    save_total_limit: int | None = None
    process_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _save(out: Path, step: int, args: Args | None = None, **kwargs: Any) -> Path:
    torch.manual_seed(step)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = get_scheduler("linear", optimizer, 1, 10)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler.step()
    control = TrainerControl(should_save=True)
    state = TrainerState(global_step=step, stateful_callbacks=[control])
    return save_checkpoint(
        out, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None, state=state,
        args=args or Args(), control=control, **kwargs,
    )  # fmt: skip


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_layout_and_trainer_state_format(tmp_path: Path) -> None:
    folder = _save(tmp_path, 4)
    assert folder == tmp_path / "checkpoint-4"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-4"]  # no work folder left behind
    assert sorted(os.listdir(folder)) == [
        "model.safetensors", "optimizer.json", "optimizer.safetensors", "rng_state_0.safetensors",
        "scheduler.json", "trainer_state.json", "training_args.json",
    ]  # fmt: skip
    text = (folder / "trainer_state.json").read_text()
    data = json.loads(text)
    assert set(data) == TRANSFORMERS_STATE_KEYS
    assert text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["stateful_callbacks"]["TrainerControl"]["args"]["should_save"] is True
    assert json.loads((folder / "training_args.json").read_text())["save_strategy"] == "steps"
    assert load_trainer_state(folder).global_step == 4


def test_save_only_model(tmp_path: Path) -> None:
    folder = _save(tmp_path, 2, Args(save_only_model=True))
    assert sorted(os.listdir(folder)) == [
        "model.safetensors",
        "trainer_state.json",
        "training_args.json",
    ]
    assert is_complete_checkpoint(folder)


def test_non_saving_process_writes_only_its_rng(tmp_path: Path) -> None:
    (tmp_path / ".tmp-checkpoint-3").mkdir()  # made by the main process before the barrier
    _save(tmp_path, 3, Args(should_save=False, process_index=1))
    assert os.listdir(tmp_path / ".tmp-checkpoint-3") == ["rng_state_1.safetensors"]
    assert get_last_checkpoint(tmp_path) is None


def test_no_checkpoint_folder_exists_until_everything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    original = TrainerState.save_to_json

    def spy(self: TrainerState, path: Any) -> None:
        seen.append(sorted(os.listdir(tmp_path)))
        original(self, path)

    monkeypatch.setattr(TrainerState, "save_to_json", spy)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    _save(tmp_path, 5)
    assert seen == [[".tmp-checkpoint-5"]]
    assert len(synced) >= 7 + 2  # every file, the folder and its parent


def test_failed_save_leaves_earlier_checkpoints_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save(tmp_path, 1)
    _save(tmp_path, 2)
    before = _snapshot(tmp_path)
    real_save_file = codec.save_file

    def failing(tensors: Any, filename: str, metadata: Any = None) -> None:
        if filename.endswith("optimizer.safetensors"):
            raise OSError(28, "No space left on device")
        real_save_file(tensors, filename, metadata=metadata)

    monkeypatch.setattr(codec, "save_file", failing)
    with pytest.raises(OSError, match="No space left"):
        _save(tmp_path, 3)
    assert _snapshot(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-1", "checkpoint-2"]
    assert get_last_checkpoint(tmp_path) == tmp_path / "checkpoint-2"


def test_crash_leftovers_are_never_taken_for_checkpoints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = _save(tmp_path, 5)
    # A save killed before its rename: only the work folder exists.
    (tmp_path / ".tmp-checkpoint-6").mkdir()
    (tmp_path / ".tmp-checkpoint-6" / "model.safetensors").write_bytes(b"partial")
    # Folders other writers leave when killed (transformers is not atomic):
    jit = tmp_path / "checkpoint-7"  # JIT checkpoint interrupted: sentinel still there
    jit.mkdir()
    (jit / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    (jit / "trainer_state.json").write_text("{}")
    (jit / "checkpoint-is-incomplete.txt").write_text("in progress")
    cut = tmp_path / "checkpoint-8"  # killed while writing trainer_state.json
    cut.mkdir()
    (cut / "model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    (cut / "trainer_state.json").write_text('{"global_step": 8, "log_hi')
    (tmp_path / "checkpoint-9").mkdir()  # killed before anything was written
    (tmp_path / "checkpoint-10").write_text("a file, not a folder")

    with caplog.at_level(logging.WARNING):
        assert get_last_checkpoint(tmp_path) == good
    for name in ("checkpoint-7", "checkpoint-8", "checkpoint-9"):
        assert not is_complete_checkpoint(tmp_path / name)
        assert f"Skipping incomplete checkpoint {tmp_path / name}" in caplog.text
    assert not is_complete_checkpoint(tmp_path / ".tmp-checkpoint-6")

    assert _save(tmp_path, 6) == tmp_path / "checkpoint-6"  # the stale work folder is replaced
    assert not (tmp_path / ".tmp-checkpoint-6").exists()
    assert is_complete_checkpoint(tmp_path / "checkpoint-6")


def test_saving_a_step_again_replaces_the_old_folder(tmp_path: Path) -> None:
    old = _save(tmp_path, 3)
    (old / "stray.txt").write_text("from an earlier run")
    _save(tmp_path, 3)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-3"]
    assert not (old / "stray.txt").exists()


def test_get_last_checkpoint_none(tmp_path: Path) -> None:
    assert get_last_checkpoint(tmp_path) is None
    assert get_last_checkpoint(tmp_path / "missing") is None
    assert checkpoints.PREFIX_CHECKPOINT_DIR == "checkpoint"


def test_best_model_checkpoint_follows_best_global_step(tmp_path: Path) -> None:
    control = TrainerControl()
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = get_scheduler("constant", optimizer)
    state = TrainerState(stateful_callbacks=[control])
    out = str(tmp_path / "run")
    for step, best in ((2, 2), (4, 2), (6, 6)):
        state.global_step, state.best_global_step = step, best
        save_checkpoint(
            out, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None,
            state=state, args=Args(save_total_limit=1), control=control,
        )  # fmt: skip
        assert state.best_model_checkpoint == os.path.join(out, f"checkpoint-{best}")
        saved = load_trainer_state(os.path.join(out, f"checkpoint-{step}"))
        assert saved.best_model_checkpoint == state.best_model_checkpoint
    # Rotation with limit 1 kept the best and the newest, then only the newest (= best).
    assert os.listdir(out) == ["checkpoint-6"]
    state.best_global_step, state.global_step = 6, 7
    args = Args(save_strategy="no")
    state.best_model_checkpoint = None
    save_checkpoint(
        out, model=model, optimizer=optimizer, scheduler=scheduler, scaler=None,
        state=state, args=args, control=control,
    )  # fmt: skip
    assert state.best_model_checkpoint is None  # strategy "no" tracks no best checkpoint


class ThreadAccelerator:
    """Two "processes" as threads sharing one disk; wait_for_everyone is a real barrier."""

    distributed_type = "MULTI_CPU"
    num_processes = 2

    def __init__(self, process_index: int, barrier: threading.Barrier) -> None:
        self.process_index = process_index
        self.barrier = barrier

    def wait_for_everyone(self) -> None:
        self.barrier.wait(timeout=60)

    def unwrap_model(self, model: Any, keep_torch_compile: bool = True) -> Any:
        return model


@pytest.mark.parametrize("save_on_each_node", [False, True])
def test_two_processes_publish_one_complete_checkpoint(
    tmp_path: Path, save_on_each_node: bool
) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def process(index: int) -> None:
        try:
            for step in (1, 2, 3):
                args = Args(should_save=index == 0 or save_on_each_node, process_index=index)
                args.save_total_limit = 2
                _save(tmp_path, step, args, accelerator=ThreadAccelerator(index, barrier))
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=process, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-2", "checkpoint-3"]
    files = os.listdir(tmp_path / "checkpoint-3")
    assert {"rng_state_0.safetensors", "rng_state_1.safetensors", "trainer_state.json"} <= set(
        files
    )
    assert get_last_checkpoint(tmp_path) == tmp_path / "checkpoint-3"


def test_leftovers_of_killed_saves_are_removed_by_the_next_save(tmp_path: Path) -> None:
    for name in (".tmp-checkpoint-8", ".tmp-checkpoint-8.lock", ".trash-checkpoint-2-77"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "big.safetensors").write_bytes(b"0" * 100)
    (tmp_path / ".tmp-other").mkdir()  # not ours: kept
    _save(tmp_path, 3)
    assert sorted(os.listdir(tmp_path)) == [".tmp-other", "checkpoint-3"]


def test_full_checkpoints_under_deepspeed_are_refused_before_writing(tmp_path: Path) -> None:
    class DeepSpeedAccelerator(ThreadAccelerator):
        distributed_type = "DEEPSPEED"
        num_processes = 1

    with pytest.raises(NotImplementedError, match="save_only_model=True"):
        _save(tmp_path, 1, accelerator=DeepSpeedAccelerator(0, threading.Barrier(1)))
    assert os.listdir(tmp_path) == []
