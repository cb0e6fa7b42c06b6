"""`Seq2SeqTrainer`: a Trainer whose evaluate/predict can run `model.generate`.

Behaviour follows `transformers.Seq2SeqTrainer` 5.x: generation kwargs given to
`evaluate`/`predict` win over `generation_max_length`/`generation_num_beams`, which win over
the model's `generation_config`; generated ids and labels are right-padded with the pad
token to the width of the model's `generation_config.max_length` (or `max_new_tokens + 1`),
and the eval loop gathers with `accelerator.gather` so no sample is dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from trainer_loop.trainer import Trainer
from trainer_seq2seq.generation import (
    generation_pad_width,
    load_generation_config,
    pad_tensor_to_length,
    padded_generation_width,
    resolve_generation_kwargs,
)

__all__ = ["Seq2SeqTrainer"]


class Seq2SeqTrainer(Trainer):
    """The Trainer with generation-based evaluation (`predict_with_generate=True`)."""

    def __init__(
        self,
        model: nn.Module | None = None,
        args: Any = None,
        data_collator: Callable[..., Any] | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Callable[..., nn.Module] | None = None,
        compute_loss_func: Callable[..., Any] | None = None,
        compute_metrics: Callable[..., dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        preprocess_logits_for_metrics: Callable[..., Any] | None = None,
    ) -> None:
        # No `optimizer_cls_and_kwargs`: transformers' Seq2SeqTrainer does not take it either.
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            model_init=model_init,
            compute_loss_func=compute_loss_func,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        # args.generation_config > the model's own generation_config.
        gen_config_arg = getattr(self.args, "generation_config", None)
        if gen_config_arg is not None:
            target: Any = self.model
            target.generation_config = self.load_generation_config(
                gen_config_arg, getattr(target, "generation_config", None)
            )

    @staticmethod
    def load_generation_config(gen_config_arg: Any, template: Any = None) -> Any:
        """A validated generation config from a config object, a dict, a JSON file or a folder."""
        return load_generation_config(gen_config_arg, template)

    def _set_generation_kwargs(self, gen_kwargs: dict[str, Any]) -> None:
        self._gen_kwargs = resolve_generation_kwargs(
            gen_kwargs,
            getattr(self.args, "generation_max_length", None),
            getattr(self.args, "generation_num_beams", None),
        )
        # Generated predictions are never de-duplicated: gather everything, as transformers.
        self.gather_function = self.accelerator.gather

    def evaluate(  # type: ignore[override]
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
        **gen_kwargs: Any,
    ) -> dict[str, float]:
        """Run evaluation and return the metrics; generates predictions if `predict_with_generate`.

        `gen_kwargs` (`max_length`, `max_new_tokens`, `num_beams`, ...) go to the model's
        `generate()` and win over `generation_max_length` / `generation_num_beams`.

        With several eval datasets (a dict), every one is generated with `gen_kwargs`:
        transformers drops them after the first level (its Trainer.evaluate recurses without
        them); this is a deliberate fix.
        """
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if isinstance(datasets, dict):
            metrics: dict[str, float] = {}
            for name, dataset in datasets.items():
                metrics.update(
                    self.evaluate(
                        dataset if eval_dataset is not None else name,
                        ignore_keys=ignore_keys,
                        metric_key_prefix=f"{metric_key_prefix}_{name}",
                        **gen_kwargs,
                    )
                )
            return metrics
        self._set_generation_kwargs(gen_kwargs)
        return super().evaluate(
            eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
        )

    def predict(  # type: ignore[override]
        self,
        test_dataset: Any,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "test",
        **gen_kwargs: Any,
    ) -> Any:
        """Run prediction and return a `PredictionOutput`; generated ids if `predict_with_generate`.

        `gen_kwargs` (`max_length`, `max_new_tokens`, `num_beams`, ...) go to the model's
        `generate()` and win over `generation_max_length` / `generation_num_beams`.
        """
        self._set_generation_kwargs(gen_kwargs)
        return super().predict(
            test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
        )

    def prediction_step(  # type: ignore[override]
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
        **gen_kwargs: Any,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """`(loss, generated_ids, labels)` with `predict_with_generate`, else the Trainer's step."""
        if not getattr(self.args, "predict_with_generate", False) or prediction_loss_only:
            return super().prediction_step(
                model, inputs, prediction_loss_only=prediction_loss_only, ignore_keys=ignore_keys
            )
        has_labels = "labels" in inputs
        inputs = self._prepare_inputs(inputs)
        generated = self._generate(inputs, gen_kwargs)
        gen_config = getattr(self.model, "generation_config", None)
        widths = padded_generation_width(gen_config)
        generated = self._pad_to_generation_width(generated, *widths)

        loss = self._generation_loss(model, inputs) if has_labels else None
        if self.args.prediction_loss_only:
            return loss, None, None
        labels = self._pad_to_generation_width(inputs["labels"], *widths) if has_labels else None
        return loss, generated, labels

    def _generate(self, inputs: dict[str, Any], gen_kwargs: dict[str, Any]) -> torch.Tensor:
        generate = getattr(self.model, "generate", None)
        if not callable(generate):
            raise AttributeError(
                f"predict_with_generate=True needs a model with a `generate` method, and "
                f"{type(self.model).__name__} has none. Use a generative model, or set "
                f"predict_with_generate=False to evaluate with the model's forward outputs."
            )
        # Priority: kwargs of this step > those of evaluate/predict > model.generation_config.
        if not gen_kwargs:
            gen_kwargs = dict(getattr(self, "_gen_kwargs", {}))
        for key in ("num_beams", "max_length"):
            if key in gen_kwargs and gen_kwargs[key] is None:
                gen_kwargs.pop(key)
        gen_kwargs.setdefault("synced_gpus", self._default_synced_gpus())

        generation_inputs = inputs
        labels, decoder_ids = inputs.get("labels"), inputs.get("decoder_input_ids")
        if labels is not None and decoder_ids is not None and labels.shape == decoder_ids.shape:
            # decoder_input_ids made from the labels would make generate continue the reference.
            dropped = ("decoder_input_ids", "decoder_attention_mask")
            generation_inputs = {k: v for k, v in inputs.items() if k not in dropped}
        with self._full_params_context():
            generated: torch.Tensor = generate(**generation_inputs, **gen_kwargs)
        gen_config = getattr(self.model, "generation_config", None)
        if getattr(gen_config, "_from_model_config", False):
            # Keeps transformers from re-deriving the config from model.config at every batch.
            gen_config._from_model_config = False  # type: ignore[union-attr]
        return generated

    def _generation_loss(self, model: nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
        """The loss of a teacher-forced forward pass (generation itself gives none)."""
        with torch.no_grad():
            with self.compute_loss_context_manager():
                outputs = model(**inputs)
            if self.label_smoother is not None:
                return self.label_smoother(outputs, inputs["labels"]).detach().mean()
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
            return loss.detach().mean()

    def _pad_token_id(self) -> int:
        """The pad id for generated ids and labels: the tokenizer's (or its eos), else the model's."""
        tokenizer = self.processing_class
        if tokenizer is not None and hasattr(tokenizer, "pad_token_id"):
            pad = tokenizer.pad_token_id
            return pad if pad is not None else tokenizer.eos_token_id
        pad = getattr(getattr(self.model, "config", None), "pad_token_id", None)
        if pad is None:
            raise ValueError(
                "Pad_token_id must be set in the configuration of the model, in order to pad tensors"
            )
        return int(pad)

    def _pad_to_generation_width(
        self, tensor: torch.Tensor, max_length: int, max_new_tokens: int | None
    ) -> torch.Tensor:
        width = generation_pad_width(tensor.shape[-1], max_length, max_new_tokens)
        return tensor if width is None else self._pad_tensors_to_max_len(tensor, width)

    def _pad_tensors_to_max_len(self, tensor: torch.Tensor, max_length: int) -> torch.Tensor:
        """Right-pad `tensor` with the pad id to `max_length` (transformers' helper: same name,
        so subclasses that override it keep working)."""
        return pad_tensor_to_length(tensor, max_length, self._pad_token_id())

    def _default_synced_gpus(self) -> bool:
        """ZeRO-3 and FSDP shard the weights: every process must run every generation step."""
        plugin = getattr(getattr(self.accelerator, "state", None), "deepspeed_plugin", None)
        zero3 = plugin is not None and getattr(plugin, "zero_stage", None) == 3
        return zero3 or (self.model is not None and _is_fsdp_managed(self.model))

    def _full_params_context(self) -> contextlib.AbstractContextManager[Any]:
        fsdp_cls = _fsdp1_class()
        if fsdp_cls is not None and isinstance(self.model, fsdp_cls):
            return fsdp_cls.summon_full_params(self.model)
        return contextlib.nullcontext()


def _fsdp1_class() -> Any:
    if not torch.distributed.is_available():
        return None
    from torch.distributed.fsdp import FullyShardedDataParallel

    return FullyShardedDataParallel


def _is_fsdp_managed(model: nn.Module) -> bool:
    if getattr(model, "_is_fsdp_managed_module", False):
        return True
    fsdp_cls = _fsdp1_class()
    if fsdp_cls is None:
        return False
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, (fsdp_cls, FSDPModule))
