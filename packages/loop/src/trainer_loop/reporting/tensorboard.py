"""`TensorBoardCallback`: scalars and the run's arguments into TensorBoard event files."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from trainer_loop.callbacks.base import TrainerCallback
from trainer_loop.reporting.common import default_logdir, is_installed, numeric_value, rewrite_logs
from trainer_loop.state import TrainerControl, TrainerState

__all__ = ["TensorBoardCallback"]

logger = logging.getLogger(__name__)


def _summary_writer_class() -> Any:
    if not (is_installed("tensorboard") or is_installed("tensorboardX")):
        raise RuntimeError(
            "TensorBoardCallback (report_to='tensorboard') needs the `tensorboard` package, which is "
            "not installed. Install it with `pip install tensorboard` (or `pip install tensorboardX`)."
        )
    try:
        return importlib.import_module("torch.utils.tensorboard").SummaryWriter
    except ImportError:
        return importlib.import_module("tensorboardX").SummaryWriter


class TensorBoardCallback(TrainerCallback):
    """Writes logs as TensorBoard scalars (tags `train/loss`, `eval/loss`, ... at `global_step`).

    The log folder is `$TENSORBOARD_LOGGING_DIR` when set, otherwise
    `<output_dir>/runs/<Mon DD_HH-MM-SS>_<host>` (hyperparameter trials get their own
    subfolder), as in transformers. At train begin the arguments are written as the text
    `args` (and the model config as `model_config` when the model has one).
    """

    def __init__(self, tb_writer: Any = None) -> None:
        self._SummaryWriter = _summary_writer_class()
        self.tb_writer = tb_writer
        env_dir = os.getenv("TENSORBOARD_LOGGING_DIR")
        self.logging_dir = os.path.expanduser(env_dir) if env_dir is not None else None

    def _init_summary_writer(self, args: Any) -> None:
        if self.logging_dir is None:
            self.logging_dir = os.path.join(args.output_dir, default_logdir())
        self.tb_writer = self._SummaryWriter(log_dir=self.logging_dir)

    def on_train_begin(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        if state.is_hyper_param_search and state.trial_name is not None:
            self.logging_dir = os.path.join(args.output_dir, default_logdir(), state.trial_name)
        if self.tb_writer is None:
            self._init_summary_writer(args)
        self.tb_writer.add_text("args", args.to_json_string())
        config = getattr(kwargs.get("model"), "config", None)
        if config is not None and hasattr(config, "to_json_string"):
            self.tb_writer.add_text("model_config", config.to_json_string())

    def on_log(
        self,
        args: Any,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or logs is None:
            return
        if self.tb_writer is None:
            self._init_summary_writer(args)
        for tag, value in rewrite_logs(logs).items():
            number = numeric_value(value)
            if number is not None:
                self.tb_writer.add_scalar(tag, number, state.global_step)
            elif isinstance(value, str):
                self.tb_writer.add_text(tag, value, state.global_step)
            else:
                logger.warning(
                    f'Trainer is attempting to log a value of "{value}" of type {type(value)} for key "{tag}" '
                    "as a scalar. This invocation of Tensorboard's writer.add_scalar() is incorrect so we "
                    "dropped this attribute."
                )
        self.tb_writer.flush()

    def on_train_end(
        self, args: Any, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None
