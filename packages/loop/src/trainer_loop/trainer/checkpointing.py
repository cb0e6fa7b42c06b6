"""Saving and loading: the model, checkpoints, the best model, resuming (formats in `checkpoints`)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from torch import nn

from trainer_loop import checkpoints
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["CheckpointMixin"]


class CheckpointMixin(TrainerAttributes):
    """`save_model`, `_save_checkpoint`, and the `_load_*` calls of a resumed or finished run."""

    def save_state(self: Trainer) -> None:
        """Write `output_dir/trainer_state.json` (world process zero only)."""
        if self.is_world_process_zero():
            path = os.path.join(self.args.output_dir, checkpoints.TRAINER_STATE_NAME)
            self.state.save_to_json(path)

    def save_model(
        self: Trainer, output_dir: str | None = None, _internal_call: bool = False
    ) -> None:
        """Save the model (safetensors / save_pretrained), processing class and training args."""
        self._save(output_dir)

    def _save(
        self: Trainer, output_dir: str | None = None, state_dict: dict[str, Any] | None = None
    ) -> None:
        """Write the model files to `output_dir` (default `args.output_dir`), as transformers.

        `state_dict` replaces the model's own weights (scripts pass a CPU copy); under FSDP or
        DeepSpeed the full weights are gathered first. Only `args.should_save` processes write.
        """
        folder = output_dir if output_dir is not None else self.args.output_dir
        if self.args.should_save:
            logger.info(f"Saving model checkpoint to {folder}")
        if state_dict is None and (self.is_fsdp_enabled or self.is_deepspeed_enabled):
            state_dict = self.accelerator.get_state_dict(self.model_wrapped)
        checkpoints.save_model_files(
            self.model,
            folder,
            self._processing_class_to_save(),
            state_dict,
            args=self.args,
            is_main_process=bool(self.args.should_save),
            accelerator=self.accelerator,
        )

    def _processing_class_to_save(self: Trainer) -> Any:
        if self.processing_class is not None:
            return self.processing_class
        # transformers falls back to the collator's tokenizer, so the checkpoint can be reloaded.
        return getattr(self.data_collator, "tokenizer", None)

    def _save_checkpoint(self: Trainer, model: nn.Module, trial: Any) -> None:
        """Flops first, then one atomic `checkpoint-N` folder, then rotation."""
        if self.hp_search_backend is None and trial is None:
            self.store_flos()
        checkpoints.save_checkpoint(
            self._get_output_dir(trial),
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.lr_scheduler,
            scaler=getattr(self.accelerator, "scaler", None),
            state=self.state,
            args=self.args,
            accelerator=self.accelerator,
            processing_class=self._processing_class_to_save(),
            callbacks=self.callback_handler.callbacks,
            control=self.control,
        )

    def _get_last_checkpoint(self: Trainer, folder: str) -> str | None:
        found = checkpoints.get_last_checkpoint(folder)
        return None if found is None else str(found)

    def _load_from_checkpoint(
        self: Trainer, resume_from_checkpoint: str, model: nn.Module | None = None
    ) -> None:
        target = self.model if model is None else model
        checkpoints.load_checkpoint_model(
            target, resume_from_checkpoint, accelerator=self.accelerator
        )

    def _load_optimizer_and_scheduler(self: Trainer, checkpoint: str | None) -> None:
        if checkpoint is None:
            return
        checkpoints.load_checkpoint_optimizer_and_scheduler(
            self.optimizer,
            self.lr_scheduler,
            getattr(self.accelerator, "scaler", None),
            checkpoint,
            model=self.model_wrapped,
        )

    def _load_rng_state(self: Trainer, checkpoint: str | None) -> None:
        if checkpoint is not None:
            checkpoints.load_checkpoint_rng(checkpoint, self.args.process_index)

    def _load_callback_state(self: Trainer) -> None:
        """`restore_callback_states_from_checkpoint`: rebuild the callbacks from the resumed state."""
        if self.args.restore_callback_states_from_checkpoint:
            self.control = checkpoints.restore_callback_states(
                self.state, self.callback_handler, self.control
            )

    def _load_best_model(self: Trainer) -> None:
        best = self.state.best_model_checkpoint
        assert best is not None
        logger.info(f"Loading best model from {best} (score: {self.state.best_metric}).")
        checkpoints.load_best_model(self.model, best, accelerator=self.accelerator)

    def _delete_non_best_checkpoints(self: Trainer, trial: Any) -> None:
        """With `save_total_limit == 1`, keep only the best checkpoint at the end of training."""
        checkpoints.prune_checkpoints_at_train_end(
            self._get_output_dir(trial),
            save_total_limit=self.args.save_total_limit,
            best_model_checkpoint=self.state.best_model_checkpoint,
            should_save=bool(self.args.should_save),
        )
