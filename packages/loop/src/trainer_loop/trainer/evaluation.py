"""Evaluation and prediction: `evaluate`, `predict`, the loop they share, and `prediction_step`.

Results stream to the CPU through `trainer_loop.eval_accumulation`'s accumulators (device chunks
every `eval_accumulation_steps`, written once into arrays sized from the dataset), with
transformers' padding rule (dim 1, -100), so the arrays are the same.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from trainer_loop.data.batches import find_batch_size
from trainer_loop.data.collators import ensure_mapping
from trainer_loop.data.loaders import has_length
from trainer_loop.eval_accumulation import EvalAccumulator, nested_detach
from trainer_loop.metrics import denumpify_detensorize, speed_metrics
from trainer_loop.trainer.attributes import TrainerAttributes

if TYPE_CHECKING:
    from trainer_loop.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = ["EvaluationMixin"]


def _default_ignore_keys(model: Any) -> list[str]:
    if hasattr(model, "config"):
        return list(getattr(model.config, "keys_to_ignore_at_inference", ["cache"]))
    return []


def _logits_from(outputs: Any, skip: Sequence[str], tuple_offset: int) -> Any:
    if isinstance(outputs, dict):
        return tuple(v for k, v in outputs.items() if k not in skip)
    return outputs[tuple_offset:] if tuple_offset else outputs


def _pad_across_processes(accelerator: Any, data: Any) -> Any:
    """Pad dim 1 to the longest across processes; in one process nothing to do.

    accelerate would still gather the shape through the device and read it back on the host
    (a synchronisation per tensor per batch), only to find that nothing needs padding.
    """
    if accelerator.num_processes == 1:
        return data
    return accelerator.pad_across_processes(data, dim=1, pad_index=-100)


def _num_samples(dataloader: Any, eval_dataset: Any, observed: int, num_examples: Any) -> int:
    if has_length(eval_dataset):
        num = len(eval_dataset)
    elif getattr(eval_dataset, "num_examples", 0) > 0:
        num = eval_dataset.num_examples
    elif has_length(dataloader):
        num = num_examples(dataloader)
    else:
        num = observed
    if num == 0 and observed > 0:
        num = observed
    return num


class EvaluationMixin(TrainerAttributes):
    """`evaluate` / `predict` -> `evaluation_loop` -> `prediction_step`."""

    def evaluate(
        self: Trainer,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """Evaluate; a dict of datasets gives one pass per entry with prefix `{prefix}_{name}`."""
        override = eval_dataset is not None
        eval_dataset = eval_dataset if override else self.eval_dataset
        if isinstance(eval_dataset, dict):
            metrics: dict[str, float] = {}
            for name, dataset in eval_dataset.items():
                metrics.update(
                    self.evaluate(
                        eval_dataset=dataset if override else name,
                        ignore_keys=ignore_keys,
                        metric_key_prefix=f"{metric_key_prefix}_{name}",
                    )
                )
            return metrics

        self._memory_tracker.start(stage="eval")
        dataloader = self.get_eval_dataloader(eval_dataset)
        start_time = time.time()
        output = self.evaluation_loop(
            dataloader,
            description="Evaluation",
            prediction_loss_only=True if self.compute_metrics is None else None,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        self._add_speed_metrics(output, metric_key_prefix, start_time)
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(
            self.args, self.state, self.control, output.metrics
        )
        self._memory_tracker.stop_and_update_metrics(output.metrics, stage="eval")
        return output.metrics  # type: ignore[no-any-return]

    def predict(
        self: Trainer,
        test_dataset: Any,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "test",
    ) -> Any:
        """Predictions, label ids and metrics (`test_` prefix); no log entry."""
        from trainer_loop.outputs import PredictionOutput

        self._memory_tracker.start(stage="test")
        dataloader = self.get_test_dataloader(test_dataset)
        start_time = time.time()
        output = self.evaluation_loop(
            dataloader,
            description="Prediction",
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
        self._add_speed_metrics(output, metric_key_prefix, start_time)
        self.control = self.callback_handler.on_predict(
            self.args, self.state, self.control, output.metrics
        )
        self._memory_tracker.stop_and_update_metrics(output.metrics, stage="test")
        return PredictionOutput(
            predictions=output.predictions, label_ids=output.label_ids, metrics=output.metrics
        )

    def _add_speed_metrics(self: Trainer, output: Any, prefix: str, start_time: float) -> None:
        total_batch_size = self.args.eval_batch_size * self.args.world_size
        prep_key = f"{prefix}_model_preparation_time"
        if prep_key in output.metrics:
            start_time += output.metrics[prep_key]
        output.metrics.update(
            speed_metrics(
                prefix,
                start_time,
                num_samples=output.num_samples,
                num_steps=math.ceil(output.num_samples / total_batch_size),
            )
        )

    def evaluation_loop(
        self: Trainer,
        dataloader: DataLoader[Any],
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> Any:
        """Shared loop of `evaluate()` and `predict()`; returns an `EvalLoopOutput`."""
        from trainer_loop.outputs import EvalLoopOutput, EvalPrediction

        args = self.args
        if prediction_loss_only is None:
            prediction_loss_only = args.prediction_loss_only
        model = self._prepare_eval_model()
        batch_size = args.eval_batch_size
        logger.info(f"\n***** Running {description} *****")
        if has_length(dataloader):
            logger.info(f"  Num examples = {self.num_examples(dataloader)}")
        else:
            logger.info("  Num examples: Unknown")
        logger.info(f"  Batch size = {self.args.eval_batch_size}")
        if hasattr(model, "eval") and callable(model.eval):
            model.eval()
        if hasattr(self.optimizer, "eval") and callable(self.optimizer.eval):
            self.optimizer.eval()
        self.callback_handler.eval_dataloader = dataloader
        eval_dataset = getattr(dataloader, "dataset", None)

        concat = args.eval_do_concat_batches
        # gather_for_metrics drops the samples repeated to even out the last batch: the results
        # have exactly one row per example of a sized dataset.
        rows = len(eval_dataset) if has_length(eval_dataset) else None  # type: ignore[arg-type]
        all_losses, all_preds = (
            EvalAccumulator(concat, rows=rows),
            EvalAccumulator(concat, rows=rows),
        )
        all_labels, all_inputs = (
            EvalAccumulator(concat, rows=rows),
            EvalAccumulator(concat, rows=rows),
        )
        keep_outputs = not args.batch_eval_metrics or description == "Prediction"
        want_inputs = "inputs" in args.include_for_metrics
        main_input_name = getattr(self.model, "main_input_name", "input_ids")
        accelerator = self.accelerator
        metrics: Any = None
        observed = 0

        for step, inputs in enumerate(dataloader):
            observed_batch = find_batch_size(inputs)
            if observed_batch is not None:
                observed += observed_batch
                if batch_size is None:
                    batch_size = observed_batch

            losses, logits, labels = self.prediction_step(
                model, inputs, prediction_loss_only, ignore_keys=ignore_keys
            )
            inputs_decode = self._prepare_input(inputs[main_input_name]) if want_inputs else None

            if losses is not None:
                losses = self.gather_function(losses.repeat(batch_size))
                all_losses.add(losses)
            if inputs_decode is not None:
                inputs_decode = _pad_across_processes(accelerator, inputs_decode)
                inputs_decode = self.gather_function(inputs_decode)
                if keep_outputs:
                    all_inputs.add(inputs_decode)
            if labels is not None:
                labels = _pad_across_processes(accelerator, labels)
            if logits is not None:
                logits = _pad_across_processes(accelerator, logits)
                if self.preprocess_logits_for_metrics is not None:
                    logits = self.preprocess_logits_for_metrics(logits, labels)
                logits = self.gather_function(logits)
                if keep_outputs:
                    all_preds.add(logits)
            if labels is not None:
                labels = self.gather_function(labels)
                if keep_outputs:
                    all_labels.add(labels)

            self.control = self.callback_handler.on_prediction_step(args, self.state, self.control)

            if args.batch_eval_metrics:
                if self.compute_metrics is not None and logits is not None and labels is not None:
                    batch_kwargs = {
                        "losses": losses if "loss" in args.include_for_metrics else None,
                        "inputs": inputs if want_inputs else None,
                    }
                    metrics = self._call_compute_metrics(
                        EvalPrediction(predictions=logits, label_ids=labels, **batch_kwargs),
                        metric_key_prefix,
                        compute_result=accelerator.gradient_state.end_of_dataloader,
                    )
            elif (
                args.eval_accumulation_steps is not None
                and (step + 1) % args.eval_accumulation_steps == 0
            ):
                for container in (all_losses, all_preds, all_labels, all_inputs):
                    container.to_cpu_and_numpy()

        # transformers resets this after every loop (dropping the gather-object option): same here.
        self.gather_function = accelerator.gather_for_metrics

        losses_arr = all_losses.get_arrays()
        preds_arr = all_preds.get_arrays()
        labels_arr = all_labels.get_arrays()
        inputs_arr = all_inputs.get_arrays()
        num_samples = _num_samples(dataloader, eval_dataset, observed, self.num_examples)

        if (
            self.compute_metrics is not None
            and preds_arr is not None
            and labels_arr is not None
            and not args.batch_eval_metrics
        ):
            extra = {
                "losses": losses_arr if "loss" in args.include_for_metrics else None,
                "inputs": inputs_arr if want_inputs else None,
            }
            metrics = self._call_compute_metrics(
                EvalPrediction(predictions=preds_arr, label_ids=labels_arr, **extra),
                metric_key_prefix,
            )
        elif metrics is None:
            metrics = {}
        metrics = denumpify_detensorize(metrics)

        loss_values = (
            np.concatenate(losses_arr)
            if isinstance(losses_arr, list) and losses_arr
            else losses_arr
        )
        if isinstance(loss_values, np.ndarray):
            finite = np.isfinite(loss_values)
            if args.logging_nan_inf_filter and finite.any():
                loss_values = loss_values[finite]
            metrics[f"{metric_key_prefix}_loss"] = loss_values.mean().item()
        if hasattr(self, "model_preparation_time"):
            metrics[f"{metric_key_prefix}_model_preparation_time"] = self.model_preparation_time
        for key in list(metrics.keys()):
            if not key.startswith(f"{metric_key_prefix}_"):
                metrics[f"{metric_key_prefix}_{key}"] = metrics.pop(key)

        return EvalLoopOutput(
            predictions=preds_arr, label_ids=labels_arr, metrics=metrics, num_samples=num_samples
        )

    def prediction_step(
        self: Trainer,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, Any, Any]:
        """One no-grad step: `(loss, logits, labels)` as `transformers.Trainer.prediction_step`."""
        ensure_mapping(inputs)
        label_names = self.label_names
        has_labels = bool(label_names) and all(inputs.get(k) is not None for k in label_names)
        return_loss = inputs.get("return_loss")
        if return_loss is None:
            return_loss = self.can_return_loss
        loss_without_labels = len(label_names) == 0 and return_loss

        inputs = self._prepare_inputs(inputs)
        if ignore_keys is None:
            ignore_keys = _default_ignore_keys(self.model)

        # Labels are read before compute_loss, which may pop them (label smoothing).
        labels: Any = None
        if has_labels or loss_without_labels:
            labels = nested_detach(tuple(inputs.get(name) for name in label_names))
            if len(labels) == 1:
                labels = labels[0]

        with torch.no_grad():
            loss: torch.Tensor | None
            if has_labels or loss_without_labels:
                num_items = self._get_num_items_in_batch([inputs], self.args.device)
                with self.compute_loss_context_manager():
                    loss, outputs = self.compute_loss(
                        model, inputs, return_outputs=True, num_items_in_batch=num_items
                    )
                loss = loss.detach().mean()
                logits = _logits_from(outputs, [*ignore_keys, "loss"], 1)
            else:
                loss = None
                with self.compute_loss_context_manager():
                    outputs = model(**inputs)
                logits = _logits_from(outputs, ignore_keys, 0)

        if prediction_loss_only:
            return (loss, None, None)
        logits = nested_detach(logits)
        if len(logits) == 1:
            logits = logits[0]
        return (loss, logits, labels)

    def _prepare_eval_model(self: Trainer) -> torch.nn.Module:
        """Wrap/prepare the model for evaluation; outside training, cast for fp16/bf16 full eval."""
        from trainer_dist.accelerator import has_prepared_model

        args = self.args
        model = self._wrap_model(self.model, training=False)
        if not has_prepared_model(self.accelerator) and model is self.model:
            start = time.time()
            if self.is_deepspeed_enabled or (self.is_fsdp_enabled and not args.torch_compile):
                model = self.accelerator.prepare(model)
            else:
                model = self.accelerator.prepare_model(model, evaluation_mode=True)
            self.model_preparation_time = round(time.time() - start, 4)
            if self.is_fsdp_enabled:
                self.model = model
            if model is not self.model:
                self.model_wrapped = model
        if not self.is_in_train:
            if args.fp16_full_eval:
                model = model.to(dtype=torch.float16, device=args.device)
            elif args.bf16_full_eval:
                model = model.to(dtype=torch.bfloat16, device=args.device)
        return model

    def _call_compute_metrics(self: Trainer, prediction: Any, prefix: str, **kwargs: Any) -> Any:
        """Call `compute_metrics`; an error it raises says which function and which dataset it was."""
        try:
            return self.compute_metrics(prediction, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            func = self.compute_metrics
            name = getattr(func, "__qualname__", type(func).__name__)
            note = f"Raised by compute_metrics={name} while computing the '{prefix}' metrics of the Trainer."
            if hasattr(exc, "add_note"):
                exc.add_note(note)
                raise
            raise RuntimeError(f"{note} Error: {exc!r}") from exc
