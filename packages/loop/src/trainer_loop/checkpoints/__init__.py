"""Checkpoints: atomic, pickle-free, bit-exact (the Trainer's `_save_checkpoint`, resume, rotation).

Layout of `output_dir/checkpoint-<global_step>/` (folder names as transformers)::

    model.safetensors (or the model's own save_pretrained output) + processing class files
    optimizer.json + optimizer.safetensors   param groups / non-tensor state + tensors
                                             (optimizer-0000i-of-0000n.safetensors above 4 GiB)
    scheduler.json (+ scheduler.safetensors) scaler.json (fp16 GradScaler only)
    rng_state_<process_index>.safetensors    every process, even a single one
    trainer_state.json                       same keys and format as transformers
    training_args.json                       args.to_dict()

The modules: `save` (one atomic checkpoint folder), `io` (temporary folder, fsync, rename),
`model_files` (weights, processing class, training args), `optimizer_state` (optimizer,
scheduler, scaler), `rng` (RNG states per process), `trainer_state_files`
(`trainer_state.json` and stateful callbacks: its one reader), `rotation`
(`save_total_limit`, the last complete checkpoint), `names` (file names, the pickle
refusal), `codec` (tensors and JSON), `file_errors` (I/O errors naming the file). The
Trainer calls them from `trainer_loop.trainer.checkpointing`.

Loading never unpickles: files are only read with safetensors and json.
"""

from __future__ import annotations

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
    report_changed_arguments,
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
    "report_changed_arguments",
    "restore_callback_states",
    "rotate_checkpoints",
    "save_checkpoint",
    "save_model_files",
    "sorted_checkpoints",
]
