"""Corrupt and hostile checkpoints, resumed through `Trainer.train(resume_from_checkpoint=...)`.

Each one gives an error that says what is wrong and where, runs no code from the files
(pickles planted with a `__reduce__` that would create a marker file), and deletes nothing
outside `output_dir`.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from crash_job import make_trainer
from safetensors.torch import load_file, save_file
from side_by_side import assert_same_logs
from support.accelerate_state import reset_accelerate

from trainer_args import TrainingArguments, ValidationError
from trainer_loop.checkpoints import CheckpointFormatError, get_last_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output folder holding checkpoint-3 of the crash job (12 steps, one save every 3)."""
    out = tmp_path_factory.mktemp("run3") / "out"
    trainer = make_trainer(str(out))
    trainer.args.max_steps = 3
    trainer.train()
    return out


def _copy(run3: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    shutil.copytree(run3, out)
    return out, out / "checkpoint-3"


class StepsRun:
    """Records `global_step` at the end of every optimizer step this process runs.

    Duck-typed, so that transformers' Trainer takes it too."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps.append(state.global_step)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


def _resume(
    out: Path, checkpoint: str | Path | bool = True, max_steps: int = 4, **kwargs: Any
) -> Any:
    """Resume the crash job in `out` up to `max_steps`; `trainer.steps_run` is what it ran."""
    recorder = StepsRun()
    reset_accelerate()
    trainer = make_trainer(str(out), callbacks=[recorder], **kwargs)
    trainer.args.max_steps = max_steps
    trainer.train(
        resume_from_checkpoint=str(checkpoint) if isinstance(checkpoint, Path) else checkpoint
    )
    trainer.steps_run = recorder.steps
    return trainer


def _saved_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "trainer_state.json").read_text())  # type: ignore[no-any-return]


def assert_resumed_from(trainer: Any, checkpoint: Path | dict[str, Any]) -> None:
    """The run went on from `checkpoint` (a folder, or its trainer_state.json read before the
    run rotated it away): it ran only the steps after the checkpoint's, and its log history
    begins with the checkpoint's (a run that silently started from scratch runs every step)."""
    saved = _saved_state(checkpoint) if isinstance(checkpoint, Path) else checkpoint
    assert trainer.steps_run == list(range(saved["global_step"] + 1, trainer.args.max_steps + 1))
    assert trainer.state.global_step == trainer.args.max_steps
    assert trainer.state.log_history[: len(saved["log_history"])] == saved["log_history"]
    new = trainer.state.log_history[len(saved["log_history"]) :]
    assert [e["step"] for e in new if "loss" in e] == trainer.steps_run, new


def _truncate(name: str) -> Callable[[Path], None]:
    return lambda folder: os.truncate(folder / name, os.path.getsize(folder / name) // 2)


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


def _with_extra_state_key(folder: Path) -> None:
    data = json.loads((folder / "trainer_state.json").read_text())
    (folder / "trainer_state.json").write_text(json.dumps({**data, "written_by": "v9"}))


FILE_NAMED = "the error names the file: {}"
CORRUPT_FILES = [
    # (case, damage, file the error must name)
    ("cut model", _truncate("model.safetensors"), "model.safetensors"),
    ("cut optimizer tensors", _truncate("optimizer.safetensors"), "optimizer.safetensors"),
    ("cut rng", _truncate("rng_state_0.safetensors"), "rng_state_0.safetensors"),
    ("state not JSON", _write("trainer_state.json", "not json {"), "trainer_state.json"),
    ("state a list", _write("trainer_state.json", "[1, 2]"), "trainer_state.json"),
    ("state unknown key", _with_extra_state_key, "trainer_state.json"),
    ("optimizer.json not JSON", _write("optimizer.json", "nope"), "optimizer.json"),
    ("scheduler.json not JSON", _write("scheduler.json", "nope"), "scheduler.json"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("damage", "name"),
    [
        pytest.param(damage, name, id=case)
        for case, damage, name in CORRUPT_FILES
    ],
)  # fmt: skip
def test_corrupt_file_gives_an_error_naming_it(
    run3: Path, tmp_path: Path, damage: Callable[[Path], None], name: str
) -> None:
    out, folder = _copy(run3, tmp_path)
    damage(folder)
    with pytest.raises((ValueError, OSError)) as caught:
        _resume(out, folder)
    assert name in str(caught.value) and str(folder) in str(caught.value), repr(caught.value)


def test_wrong_weight_shapes_are_named(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    weights = load_file(str(folder / "model.safetensors"))
    weights["hidden.weight"] = torch.zeros(3, 3)
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(RuntimeError, match=r"size mismatch for hidden\.weight.*\[3, 3\]"):
        _resume(out, folder)


def test_wrong_optimizer_state_shapes_are_refused_at_load(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    tensors = load_file(str(folder / "optimizer.safetensors"))
    tensors["/state/0/exp_avg"] = torch.zeros(7)
    save_file(tensors, str(folder / "optimizer.safetensors"))
    from trainer_loop.checkpoints import load_checkpoint_optimizer_and_scheduler

    trainer = make_trainer(str(out))
    trainer.create_optimizer_and_scheduler(num_training_steps=12)
    with pytest.raises(ValueError, match=r"optimizer.*shape"):
        load_checkpoint_optimizer_and_scheduler(
            trainer.optimizer, trainer.lr_scheduler, None, folder
        )


def test_missing_weights_or_optimizer_tensors_are_named(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    (folder / "optimizer.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"checkpoint-3/optimizer\.safetensors"):
        _resume(out, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"Can't find a valid checkpoint at .*checkpoint-3"):
        _resume(out, folder)
    # resume_from_checkpoint=True skips the folder: it no longer reads as a checkpoint.
    assert get_last_checkpoint(out) is None


# Each optional file of ours and the file transformers writes in its place.
OPTIONAL_FILES = {
    "optimizer.json": "optimizer.pt",
    "scheduler.json": "scheduler.pt",
    "rng_state_0.safetensors": "rng_state.pth",
    "training_args.json": "training_args.bin",
}


@pytest.fixture(scope="module")
def run3_transformers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same as run3, written by transformers.Trainer."""
    transformers = pytest.importorskip("transformers")
    out = tmp_path_factory.mktemp("run3_transformers") / "out"
    reset_accelerate()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = make_trainer(
            str(out), trainer_cls=transformers.Trainer, args_cls=transformers.TrainingArguments
        )
        trainer.args.max_steps = 3
        trainer.train()
    return out


@pytest.mark.parametrize("name", sorted(OPTIONAL_FILES))
def test_optional_files_missing_resume_as_transformers(
    run3: Path, tmp_path: Path, name: str
) -> None:
    """transformers restores the optimizer only when both its files exist, logs a missing RNG
    file, and never reads training_args.bin on resume: the run goes on from the checkpoint."""
    out, folder = _copy(run3, tmp_path)
    (folder / name).unlink()
    resumed = _resume(out, folder, max_steps=5)
    assert_resumed_from(resumed, folder)


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(OPTIONAL_FILES))
def test_optional_files_missing_resume_the_same_as_with_transformers(
    run3: Path, run3_transformers: Path, tmp_path: Path, name: str
) -> None:
    """Side by side: transformers resumes its checkpoint without the matching file; the
    logged numbers after the resume are the same as ours."""
    import transformers

    ours_out, ours_folder = _copy(run3, tmp_path / "ours")
    ref_out, ref_folder = _copy(run3_transformers, tmp_path / "reference")
    (ours_folder / name).unlink()
    (ref_folder / OPTIONAL_FILES[name]).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _resume(
            ref_out,
            ref_folder,
            max_steps=5,
            trainer_cls=transformers.Trainer,
            args_cls=transformers.TrainingArguments,
        )
    ours = _resume(ours_out, ours_folder, max_steps=5)
    assert_resumed_from(reference, ref_folder)
    assert ours.steps_run == reference.steps_run
    assert_same_logs(reference, ours)  # its keys, in order; numbers to rel 1e-6


def test_training_args_json_with_unknown_keys(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    data = json.loads((folder / "training_args.json").read_text())
    (folder / "training_args.json").write_text(json.dumps({**data, "lerning_rate": 1.0}))
    assert_resumed_from(_resume(out, folder), folder)  # resume never reads it
    with pytest.raises(
        ValidationError, match=r"lerning_rate=1\.0: unknown argument.*learning_rate"
    ):
        TrainingArguments.from_json_file(folder / "training_args.json")
    args = TrainingArguments.from_json_file(folder / "training_args.json", allow_unknown=True)
    assert args.learning_rate == data["learning_rate"]


def test_sharded_index_pointing_outside_is_refused(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(folder / "model.safetensors", outside)
    weight_map = {k: "../../elsewhere.safetensors" for k in load_file(str(outside))}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(ValueError, match=r"points outside its folder"):
        _resume(out, folder)


def _victim(root: Path) -> Path:
    """User data outside output_dir, shaped like a checkpoint so that nothing can tell."""
    victim = root / "precious" / "checkpoint-1"
    victim.mkdir(parents=True)
    (victim / "model.safetensors").write_bytes(b"user data")
    (victim / "trainer_state.json").write_text("{}")
    return victim


def _intact(victim: Path) -> bool:
    return (victim / "model.safetensors").read_bytes() == b"user data"


def test_rotation_and_replacement_never_reach_through_symlinks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = _victim(tmp_path)
    (out / "checkpoint-1").symlink_to(victim, target_is_directory=True)  # oldest: rotated
    (out / "checkpoint-6").symlink_to(victim, target_is_directory=True)  # replaced by a save
    (out / ".tmp-checkpoint-9").symlink_to(victim, target_is_directory=True)  # "leftover"
    trainer = make_trainer(str(out))  # save_total_limit=2, a save every 3 steps
    trainer.args.eval_strategy = "no"
    trainer.train()
    assert _intact(victim) and sorted(os.listdir(victim)) == [
        "model.safetensors",
        "trainer_state.json",
    ]
    assert not (out / "checkpoint-6").is_symlink()


def test_best_checkpoint_escaping_through_dotdot_is_only_read(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    victim = _victim(tmp_path)
    state = json.loads((folder / "trainer_state.json").read_text())
    state["best_model_checkpoint"] = str(out / ".." / "precious" / "checkpoint-1")
    state["best_global_step"] = 1
    (folder / "trainer_state.json").write_text(json.dumps(state))
    resumed = _resume(out, True, max_steps=12)  # rotation with limit 2 runs at 6, 9 and 12
    assert_resumed_from(resumed, state)
    assert _intact(victim)
    assert sorted(os.listdir(out)) == ["checkpoint-12", "checkpoint-9"]


class _Exploit:
    """Unpickling it runs code that creates `marker`: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",))


PICKLES = (
    "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth", "training_args.bin",
    "pytorch_model.bin",
)  # fmt: skip


def _plant(folder: Path, marker: Path) -> None:
    for name in PICKLES:
        (folder / name).write_bytes(pickle.dumps(_Exploit(marker)))
    assert not marker.exists()


def test_pickles_planted_beside_ours_are_never_run(run3: Path, tmp_path: Path) -> None:
    out, folder = _copy(run3, tmp_path)
    marker = tmp_path / "pwned"
    _plant(folder, marker)
    assert_resumed_from(_resume(out, True), folder)
    assert not marker.exists()


@pytest.mark.parametrize("only", ["pytorch_model.bin", "optimizer.pt"])
def test_pickles_in_place_of_ours_are_refused_clearly(
    run3: Path, tmp_path: Path, only: str
) -> None:
    out, folder = _copy(run3, tmp_path)
    marker = tmp_path / "pwned"
    ours = (
        ["model.safetensors"]
        if only == "pytorch_model.bin"
        else ["optimizer.json", "scheduler.json"]
    )
    for name in ours:
        (folder / name).unlink()
    _plant(folder, marker)
    with pytest.raises(
        CheckpointFormatError, match=rf"{only.replace('.', '[.]')}.*never unpickles"
    ):
        _resume(out, True)
    assert not marker.exists()


def test_resume_path_through_dotdot_reads_there_and_writes_only_in_output_dir(
    run3: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(run3 / "checkpoint-3", elsewhere / "checkpoint-3")
    before = {p.name: p.read_bytes() for p in (elsewhere / "checkpoint-3").iterdir()}
    out = tmp_path / "out"
    trainer = _resume(out, out / ".." / "elsewhere" / "checkpoint-3", max_steps=9)
    assert_resumed_from(trainer, elsewhere / "checkpoint-3")
    assert sorted(os.listdir(out)) == ["checkpoint-6", "checkpoint-9"]
    assert {p.name: p.read_bytes() for p in (elsewhere / "checkpoint-3").iterdir()} == before
