"""`save_checkpoint`: one atomic `checkpoint-<global_step>` folder, as transformers' `_save_checkpoint`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer_loop.checkpoints.file_errors import writing
from trainer_loop.checkpoints.io import (
    claim_publication,
    discard,
    prepare_tmp,
    publish,
    release_publication,
    tmp_sibling,
)
from trainer_loop.checkpoints.model_files import save_model_files
from trainer_loop.checkpoints.names import TRAINER_STATE_NAME, checkpoint_folder_name
from trainer_loop.checkpoints.optimizer_state import (
    is_fsdp_model,
    optimizer_state_dict,
    save_optimizer,
    save_scaler,
    save_scheduler,
)
from trainer_loop.checkpoints.rng import save_rng
from trainer_loop.checkpoints.rotation import rotate_checkpoints
from trainer_loop.checkpoints.trainer_state_files import export_callback_states
from trainer_loop.state import TrainerState

logger = logging.getLogger(__name__)

_BEST_TRACKING_STRATEGIES = ("steps", "epoch", "best")


def _value(option: Any) -> str:
    return str(getattr(option, "value", option))


def _barrier(accelerator: Any) -> None:
    if accelerator is not None and getattr(accelerator, "num_processes", 1) > 1:
        accelerator.wait_for_everyone()


def _gathered_model_state(model: Any, accelerator: Any) -> dict[str, Any] | None:
    """Under FSDP/DeepSpeed the full weights need a collective; otherwise the model gives them."""
    if accelerator is None or _value(getattr(accelerator, "distributed_type", "")) not in (
        "FSDP",
        "DEEPSPEED",
    ):
        return None
    return dict(accelerator.get_state_dict(model))


def _update_best_model_checkpoint(state: TrainerState, args: Any, output_dir: str | Path) -> None:
    """As transformers: point at the best step's checkpoint once it exists (this one included)."""
    if _value(args.save_strategy) not in _BEST_TRACKING_STRATEGIES or not state.best_global_step:
        return
    name = checkpoint_folder_name(state.best_global_step)
    if state.best_global_step == state.global_step or (Path(output_dir) / name).exists():
        state.best_model_checkpoint = os.path.join(os.fspath(output_dir), name)


@dataclass
class _SaveJob:
    output_dir: str | Path
    model: Any
    optimizer: Any
    scheduler: Any
    scaler: Any
    state: TrainerState
    args: Any
    accelerator: Any
    processing_class: Any
    save_only_model: bool
    callbacks: Iterable[Any]
    control: Any


def _write_files(tmp: Path, job: _SaveJob) -> None:
    args, state, accelerator = job.args, job.state, job.accelerator
    should_save = bool(args.should_save)
    save_model_files(
        job.model,
        tmp,
        job.processing_class,
        state_dict=_gathered_model_state(job.model, accelerator),
        args=args,
        is_main_process=should_save,
        accelerator=accelerator,
    )
    _update_best_model_checkpoint(state, args, job.output_dir)
    if not job.save_only_model:
        # Under FSDP gathering the optimizer state is a collective: every process joins.
        fsdp_state = (
            optimizer_state_dict(job.optimizer, job.model) if is_fsdp_model(job.model) else None
        )
        if should_save:
            save_optimizer(job.optimizer, tmp, fsdp_state)
            if job.scheduler is not None:
                save_scheduler(job.scheduler, tmp)
            save_scaler(job.scaler, tmp)
        process_index = accelerator.process_index if accelerator is not None else args.process_index
        save_rng(tmp, process_index)
    if should_save:
        export_callback_states(state, job.callbacks, job.control)
        with writing(tmp / TRAINER_STATE_NAME):
            state.save_to_json(tmp / TRAINER_STATE_NAME)


def save_checkpoint(
    output_dir: str | Path,
    *,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    state: TrainerState,
    args: Any,
    accelerator: Any = None,
    processing_class: Any = None,
    save_only_model: bool | None = None,
    callbacks: Iterable[Any] = (),
    control: Any = None,
) -> Path:
    """Write `output_dir/checkpoint-<state.global_step>` atomically; returns its path.

    Every process calls it. Files are written into `output_dir/.tmp-checkpoint-<N>`:
    weights, `training_args.json` and (unless `save_only_model`) optimizer, scheduler,
    scaler by the `args.should_save` processes, `rng_state_<process_index>.safetensors`
    by every process; `trainer_state.json` last, after refreshing `state.stateful_callbacks`
    from `callbacks` + `control` and `state.best_model_checkpoint` from `best_global_step`.
    After a barrier the folder is fsynced and renamed into place, then old checkpoints
    are rotated (`args.save_total_limit`). `output_dir` is the run folder (`args.output_dir`,
    or the trial's folder during a hyperparameter search). `store_flos` stays with the caller.
    """
    final = Path(output_dir) / checkpoint_folder_name(state.global_step)
    should_save = bool(args.should_save)
    only_model = bool(args.save_only_model if save_only_model is None else save_only_model)
    if not only_model and _value(getattr(accelerator, "distributed_type", "")) == "DEEPSPEED":
        # ZeRO partitions the optimizer inside DeepSpeed's engine, whose own checkpoints are
        # pickles; saving a partial state would make the resume silently inexact.
        raise NotImplementedError(
            "Full checkpoints under DeepSpeed are not supported (DeepSpeed's optimizer state is "
            "partitioned and saved with pickle). Use save_only_model=True, or FSDP/DDP."
        )
    if should_save:
        logger.info(f"Saving model checkpoint to {final}")
        prepare_tmp(final)
    _barrier(accelerator)
    tmp = tmp_sibling(final)
    tmp.mkdir(parents=True, exist_ok=True)  # nodes without a shared disk write their RNG here
    job = _SaveJob(
        output_dir,
        model,
        optimizer,
        scheduler,
        scaler,
        state,
        args,
        accelerator,
        processing_class,
        only_model,
        callbacks,
        control,
    )
    try:
        _write_files(tmp, job)
    except BaseException:
        if should_save:
            discard(tmp)
        raise
    _barrier(accelerator)
    publisher = should_save and claim_publication(final)
    if publisher:
        publish(tmp, final)
    _barrier(accelerator)
    if publisher:
        release_publication(final)
    if should_save:
        rotate_checkpoints(
            output_dir, args.save_total_limit, state.best_model_checkpoint, use_mtime=True
        )
    return final
