"""After an optimizer step: log, evaluate, save, as the callbacks' control flags say.

`_maybe_log_save_evaluate` is the only place the running loss is read from the device;
`log` appends to `log_history` and fires `on_log`; the metrics files and their printing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import torch

from trainer_loop.metrics import format_metrics_lines, save_metrics_json, speed_metrics
from trainer_loop.trainer.attributes import TrainerAttributes
from trainer_loop.trainer.optimization import steps_on_metrics

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["LogEvalSaveMixin"]


def _metric_key(args: Any) -> str:
    key = args.metric_for_best_model
    return key if key.startswith("eval_") else f"eval_{key}"


def _missing_metric(key: str, metrics: dict[str, float], extra: str = "") -> KeyError:
    return KeyError(
        f"The `metric_for_best_model` training argument is set to '{key}', which is not found in the evaluation "
        f"metrics. The available evaluation metrics are: {list(metrics.keys())}.{extra} Consider changing the "
        "`metric_for_best_model` via the TrainingArguments."
    )


class LogEvalSaveMixin(TrainerAttributes):
    """`_maybe_log_save_evaluate`, `log` and the metrics helpers users call after training."""

    def _maybe_log_save_evaluate(
        self: Trainer,
        tr_loss: torch.Tensor,
        grad_norm: Any,
        model: torch.nn.Module,
        trial: Any,
        epoch: float,
        ignore_keys_for_eval: list[str] | None,
        start_time: float,
        learning_rate: float | None = None,
    ) -> None:
        """Log (the only place the running loss is read), evaluate, then save, as the control flags say."""
        state, run = self.state, self._current_run()
        if self.control.should_log and state.global_step > run.globalstep_last_logged:
            tr_loss_scalar = self._mean_over_processes(tr_loss)
            tr_loss -= tr_loss
            logs: dict[str, float] = {
                "loss": tr_loss_scalar / (state.global_step - run.globalstep_last_logged)
            }
            if grad_norm is not None:
                logs["grad_norm"] = (
                    grad_norm.item() if isinstance(grad_norm, torch.Tensor) else grad_norm
                )
            logs["learning_rate"] = (
                learning_rate if learning_rate is not None else self._get_learning_rate()
            )
            run.total_loss_scalar += tr_loss_scalar
            run.globalstep_last_logged = state.global_step
            self.store_flos()
            # After the loss was read (the device is done): `log` adds these to the `on_log`
            # payload only, never to `log_history` (which stays as transformers writes it).
            run.log_extras = run.throughput.log_metrics() if run.throughput is not None else None
            self.log(logs, start_time)

        evaluating = self.control.should_evaluate  # the handler clears it in on_evaluate
        paused = time.perf_counter() if evaluating or self.control.should_save else 0.0
        if evaluating:
            metrics = self._evaluate(trial, ignore_keys_for_eval)
            is_new_best = self._determine_best_metric(metrics=metrics, trial=trial)
            if self.args.save_strategy == "best":
                self.control.should_save = is_new_best
        saving = self.control.should_save
        if saving:
            self._save_checkpoint(model, trial)
            self.control = self.callback_handler.on_save(self.args, state, self.control)
        if run.throughput is not None and (evaluating or saving):
            run.throughput.exclude(time.perf_counter() - paused)  # not training time

    def _mean_over_processes(self: Trainer, tensor: torch.Tensor) -> float:
        if self.args.world_size > 1:
            return float(self.accelerator.gather(tensor.reshape(1)).mean().item())
        return float(tensor.item())

    def _evaluate(
        self: Trainer,
        trial: Any,
        ignore_keys_for_eval: list[str] | None,
        skip_scheduler: bool = False,
    ) -> dict[str, float]:
        """`evaluate()` inside training, then the plateau scheduler step on the tracked metric."""
        try:
            metrics = self.evaluate(ignore_keys=ignore_keys_for_eval)
        except RuntimeError as exc:
            if self.args.auto_find_batch_size and "out of memory" in str(exc).lower():
                raise RuntimeError(
                    "Evaluation hit an out-of-memory error. `auto_find_batch_size` only adjusts the training batch "
                    "size, reduce `per_device_eval_batch_size` instead."
                ) from exc
            raise
        self._report_to_hp_search(trial, self.state.global_step, metrics)
        if steps_on_metrics(self.lr_scheduler) and not skip_scheduler:
            key = _metric_key(self.args)
            if key not in metrics:
                raise _missing_metric(key, metrics, " Make sure `compute_metrics` returns it.")
            self.lr_scheduler.step(metrics[key])
        return metrics

    def _determine_best_metric(self: Trainer, metrics: dict[str, float], trial: Any) -> bool:
        """Track `best_metric`/`best_global_step`; True when this evaluation is a new best."""
        args = self.args
        if args.metric_for_best_model is None:
            return False
        key = _metric_key(args)
        if key not in metrics:
            raise _missing_metric(key, metrics)
        value = metrics[key]
        state = self.state
        if state.best_metric is None:
            state.best_metric = float("-inf") if args.greater_is_better else float("inf")
        better = value > state.best_metric if args.greater_is_better else value < state.best_metric
        if not better:
            return False
        state.best_metric = value
        if args.save_strategy in ("steps", "epoch", "best"):
            state.best_global_step = state.global_step
        return True

    def log(self: Trainer, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `epoch` (and token counts), append to `log_history` with `step`, fire `on_log`.

        A training log also gets `throughput_*` keys, in the `on_log` payload only.
        """
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        if self.args.include_num_input_tokens_seen not in ("no", False, None):
            logs["num_input_tokens_seen"] = self.state.num_input_tokens_seen
            if start_time is not None:
                seen = self.state.num_input_tokens_seen - self._initial_num_input_tokens_seen
                logs.update(speed_metrics("train", start_time, num_tokens=seen))
        self.state.log_history.append({**logs, "step": self.state.global_step})
        run = self._run
        extras = None if run is None else run.log_extras
        if run is not None and extras:
            # Training logs' `throughput_*` keys: after the history entry was taken, so the
            # callbacks (progress, JSONL/CSV, trackers) see them and `log_history` stays as
            # transformers writes it.
            run.log_extras = None
            logs.update(extras)
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    def store_flos(self: Trainer) -> None:
        """Move this process's FLOP count into `state.total_flos` (summed over processes)."""
        if self.args.world_size > 1:
            from trainer_dist.collectives import gather

            # float32, as transformers' distributed_broadcast_scalars: totals agree bit for bit.
            flos = torch.tensor([self.current_flos], dtype=torch.float32, device=self.args.device)
            self.state.total_flos += gather(self.accelerator, flos).sum().item()
        else:
            self.state.total_flos += self.current_flos
        self.current_flos = 0

    def log_metrics(self: Trainer, split: str, metrics: dict[str, Any]) -> None:
        """Print `***** {split} metrics *****` and aligned, sorted lines (world process zero only)."""
        if not self.is_world_process_zero():
            return
        for line in format_metrics_lines(split, metrics):
            print(line)

    def save_metrics(
        self: Trainer, split: str, metrics: dict[str, Any], combined: bool = True
    ) -> None:
        """Write `{split}_results.json` (and merge into `all_results.json`)."""
        if self.is_world_process_zero():
            save_metrics_json(self.args.output_dir, split, metrics, combined)

    def metrics_format(self: Trainer, metrics: dict[str, Any]) -> dict[str, Any]:
        """Human-readable metrics (transformers 5.24's version lacks `self` and raises; this one works)."""
        from trainer_loop.metrics import metrics_format

        return metrics_format(metrics)
