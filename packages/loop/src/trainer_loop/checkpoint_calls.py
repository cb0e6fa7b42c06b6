"""The Trainer's checkpoint call sites: what to pass to `trainer_loop.checkpointing` and when.

Kept apart from `trainer.py` so the facade stays thin; the file formats, atomic writes,
rotation and loading themselves are `trainer_loop.checkpointing`'s.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = [
    "delete_non_best",
    "last_checkpoint",
    "load_best_model",
    "load_callback_state",
    "load_model",
    "load_optimizer_and_scheduler",
    "load_rng",
    "save_checkpoint",
    "save_model",
]


def _processing_class(trainer: Trainer) -> Any:
    if trainer.processing_class is not None:
        return trainer.processing_class
    # transformers falls back to the collator's tokenizer, so the checkpoint can be reloaded.
    return getattr(trainer.data_collator, "tokenizer", None)


def _scaler(trainer: Trainer) -> Any:
    return getattr(trainer.accelerator, "scaler", None)


def _state_dict(trainer: Trainer) -> Any:
    # Sharded engines need the gathered full state dict; a plain model saves its own.
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:
        return trainer.accelerator.get_state_dict(trainer.model_wrapped)
    return None


def save_model(trainer: Trainer, output_dir: str, state_dict: Any = None) -> None:
    """`Trainer._save`: weights (+config), processing class, `training_args.json`."""
    from trainer_loop.checkpointing import save_model_files

    if trainer.args.should_save:
        logger.info(f"Saving model checkpoint to {output_dir}")
    save_model_files(
        trainer.model,
        output_dir,
        _processing_class(trainer),
        _state_dict(trainer) if state_dict is None else state_dict,
        args=trainer.args,
        is_main_process=bool(trainer.args.should_save),
        accelerator=trainer.accelerator,
    )


def save_checkpoint(trainer: Trainer, model: nn.Module, trial: Any) -> None:
    """`Trainer._save_checkpoint`: flops first, then one atomic `checkpoint-N` folder, then rotation."""
    from trainer_loop.checkpointing import save_checkpoint as write

    if trainer.hp_search_backend is None and trial is None:
        trainer.store_flos()
    write(
        trainer._get_output_dir(trial),
        model=trainer.model,
        optimizer=trainer.optimizer,
        scheduler=trainer.lr_scheduler,
        scaler=_scaler(trainer),
        state=trainer.state,
        args=trainer.args,
        accelerator=trainer.accelerator,
        processing_class=_processing_class(trainer),
        callbacks=trainer.callback_handler.callbacks,
        control=trainer.control,
    )


def last_checkpoint(folder: str) -> str | None:
    from trainer_loop.checkpointing import get_last_checkpoint

    found = get_last_checkpoint(folder)
    return None if found is None else str(found)


def load_model(trainer: Trainer, checkpoint: str, model: nn.Module | None = None) -> None:
    from trainer_loop.checkpointing import load_checkpoint_model

    load_checkpoint_model(
        trainer.model if model is None else model, checkpoint, accelerator=trainer.accelerator
    )


def load_optimizer_and_scheduler(trainer: Trainer, checkpoint: str) -> None:
    from trainer_loop.checkpointing import load_checkpoint_optimizer_and_scheduler

    load_checkpoint_optimizer_and_scheduler(
        trainer.optimizer,
        trainer.lr_scheduler,
        _scaler(trainer),
        checkpoint,
        model=trainer.model_wrapped,
    )


def load_rng(trainer: Trainer, checkpoint: str) -> None:
    from trainer_loop.checkpointing import load_checkpoint_rng

    load_checkpoint_rng(checkpoint, trainer.args.process_index)


def load_callback_state(trainer: Trainer) -> None:
    """`restore_callback_states_from_checkpoint`: rebuild the callbacks from the resumed state."""
    if not trainer.args.restore_callback_states_from_checkpoint:
        return
    from trainer_loop.checkpointing import restore_callback_states

    trainer.control = restore_callback_states(
        trainer.state, trainer.callback_handler, trainer.control
    )


def load_best_model(trainer: Trainer) -> None:
    from trainer_loop.checkpointing import load_best_model as load

    best = trainer.state.best_model_checkpoint
    assert best is not None
    logger.info(f"Loading best model from {best} (score: {trainer.state.best_metric}).")
    load(trainer.model, best, accelerator=trainer.accelerator)


def delete_non_best(trainer: Trainer, trial: Any) -> None:
    """With `save_total_limit == 1`, keep only the best checkpoint at the end of training."""
    from trainer_loop.checkpointing import prune_checkpoints_at_train_end

    prune_checkpoints_at_train_end(
        trainer._get_output_dir(trial),
        save_total_limit=trainer.args.save_total_limit,
        best_model_checkpoint=trainer.state.best_model_checkpoint,
        should_save=bool(trainer.args.should_save),
    )
