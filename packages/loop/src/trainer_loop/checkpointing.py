"""Checkpoints: atomic, pickle-free, bit-exact (the Trainer's `_save_checkpoint`, resume, rotation).

Layout of `output_dir/checkpoint-<global_step>/` (folder names as transformers)::

    model.safetensors (or the model's own save_pretrained output) + processing class files
    optimizer.json + optimizer.safetensors   param groups / non-tensor state + tensors
                                             (optimizer-0000i-of-0000n.safetensors above 4 GiB)
    scheduler.json (+ scheduler.safetensors) scaler.json (fp16 GradScaler only)
    rng_state_<process_index>.safetensors    every process, even a single one
    trainer_state.json                       same keys and format as transformers
    training_args.json                       args.to_dict()

API (all paths accept str or Path):

    save_checkpoint(output_dir, *, model, optimizer, scheduler, scaler, state, args,
                    accelerator=None, processing_class=None, save_only_model=None,
                    callbacks=(), control=None) -> Path
        Every process calls it. Writes into `output_dir/.tmp-checkpoint-N`, fsyncs, renames to
        `checkpoint-N`, then rotates (args.save_total_limit). Also does transformers' steps 2
        and 4: sets state.best_model_checkpoint from state.best_global_step, refreshes
        state.stateful_callbacks from `callbacks` (the handler's list) + `control`.
        DDP and FSDP (full state gathered by parameter name) are supported; full checkpoints
        under DeepSpeed raise NotImplementedError (save_only_model works).
        save_only_model=None means args.save_only_model. `store_flos()` is the caller's.
    save_model_files(model, output_dir, processing_class=None, state_dict=None, *, args=None,
                     is_main_process=True, accelerator=None) -> None
        Trainer.save_model / _save: weights (+config), processing class, training_args.json.
    load_checkpoint_model(model, folder, *, accelerator=None) -> None
        ValueError "Can't find a valid checkpoint at ..." when no weights.
    load_checkpoint_optimizer_and_scheduler(optimizer, scheduler, scaler, folder, *, model=None)
        -> bool   (False: no optimizer state, e.g. save_only_model; pass model under FSDP)
    load_checkpoint_rng(folder, process_index) -> bool   (False + info log when absent)
    load_trainer_state(folder) -> TrainerState   (drops a best_model_checkpoint that is gone)
    restore_callback_states(state, callback_handler, control) -> control
    export_callback_states(state, callbacks, control) -> None
    get_last_checkpoint(output_dir) -> Path | None      complete checkpoints only
    is_complete_checkpoint(folder) -> bool
    sorted_checkpoints(output_dir, best_model_checkpoint=None, use_mtime=False) -> list[Path]
    rotate_checkpoints(output_dir, save_total_limit, best_model_checkpoint=None, *,
                       use_mtime=True, should_save=True) -> list[Path]   (deleted folders)
    prune_checkpoints_at_train_end(output_dir, *, save_total_limit, best_model_checkpoint,
                                   should_save=True) -> list[Path]
    load_best_model(model, best_model_checkpoint, *, accelerator=None) -> None
    PreemptionCallback (alias JITCheckpointCallback)   from trainer_loop.checkpoints.preemption
    CheckpointFormatError(ValueError)   transformers' pickles (optimizer.pt, ...) are refused

Where the Trainer calls them:

- `_save_checkpoint(model, trial)`: `store_flos()`, then `save_checkpoint(run_dir, model=self.model,
  optimizer=self.optimizer, scheduler=self.lr_scheduler, scaler=self.accelerator.scaler (or
  None), state=self.state, args=self.args, accelerator=self.accelerator,
  processing_class=self.processing_class (or data_collator.tokenizer),
  callbacks=self.callback_handler.callbacks, control=self.control)`.
- `save_model(output_dir)` / `_save`: `save_model_files(self.model, output_dir,
  self.processing_class, state_dict, args=self.args, is_main_process=self.args.should_save,
  accelerator=self.accelerator)` (state_dict = accelerator.get_state_dict under FSDP/DeepSpeed).
- `train(resume_from_checkpoint=True)`: `get_last_checkpoint(args.output_dir)`; None ->
  ValueError "No valid checkpoint found in output directory (...)".
- Before `accelerator.prepare` (weights are stored unsharded, so FSDP too):
  `load_checkpoint_model(self.model, ckpt)`; then `self.state = load_trainer_state(ckpt)`,
  `if args.restore_callback_states_from_checkpoint: self.control = restore_callback_states(
  self.state, self.callback_handler, self.control)`.
- After the optimizer and scheduler exist (after prepare):
  `load_checkpoint_optimizer_and_scheduler(self.optimizer, self.lr_scheduler, scaler, ckpt,
  model=self.model_wrapped)`.
- Where transformers calls `_load_rng_state(ckpt)` (start of the resumed epoch, or after the
  skipped batches): `load_checkpoint_rng(ckpt, args.process_index)`.
- End of training: `if args.load_best_model_at_end and state.best_model_checkpoint:
  load_best_model(self.model, state.best_model_checkpoint)`; then
  `prune_checkpoints_at_train_end(run_dir, save_total_limit=args.save_total_limit,
  best_model_checkpoint=state.best_model_checkpoint, should_save=args.should_save)`.
- `args.enable_jit_checkpoint`: add `PreemptionCallback()` to the callbacks.

Loading never unpickles: files are only read with safetensors and json.
"""

from __future__ import annotations

from typing import Any

from trainer_loop.checkpoints.model_files import (
    load_best_model,
    load_checkpoint_model,
    save_model_files,
)
from trainer_loop.checkpoints.names import (
    PREFIX_CHECKPOINT_DIR,
    TRAINER_STATE_NAME,
    TRAINING_ARGS_NAME,
    CheckpointFormatError,
)
from trainer_loop.checkpoints.optimizer_state import load_checkpoint_optimizer_and_scheduler
from trainer_loop.checkpoints.rng import load_checkpoint_rng
from trainer_loop.checkpoints.rotation import (
    get_last_checkpoint,
    is_complete_checkpoint,
    prune_checkpoints_at_train_end,
    rotate_checkpoints,
    sorted_checkpoints,
)
from trainer_loop.checkpoints.save import save_checkpoint
from trainer_loop.checkpoints.trainer_state_files import (
    export_callback_states,
    load_trainer_state,
    restore_callback_states,
)

__all__ = [
    "PREFIX_CHECKPOINT_DIR",
    "TRAINER_STATE_NAME",
    "TRAINING_ARGS_NAME",
    "CheckpointFormatError",
    "export_callback_states",
    "get_last_checkpoint",
    "is_complete_checkpoint",
    "load_best_model",
    "load_checkpoint_model",
    "load_checkpoint_optimizer_and_scheduler",
    "load_checkpoint_rng",
    "load_trainer_state",
    "prune_checkpoints_at_train_end",
    "restore_callback_states",
    "rotate_checkpoints",
    "save_checkpoint",
    "save_model_files",
    "sorted_checkpoints",
]


def __getattr__(name: str) -> Any:
    # The callback imports trainer_loop.callbacks, which imports much of the package: load it late.
    if name in ("PreemptionCallback", "JITCheckpointCallback"):
        from trainer_loop.checkpoints import preemption

        return getattr(preemption, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
