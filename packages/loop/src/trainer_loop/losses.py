"""Loss helpers: model introspection, the loss taken from outputs, label smoothing, item counts.

These are the facts `transformers.Trainer` derives from a model by duck typing (forward
signature, `loss_type`, `accepts_loss_kwargs`, class names), so any `nn.Module` works.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "LabelSmoother",
    "accepts_loss_kwargs",
    "can_return_loss",
    "count_items_in_batch",
    "find_labels",
    "is_causal_lm_class",
    "loss_from_outputs",
    "loss_shifts_labels",
]

# `loss_type` values whose loss shifts labels (transformers' LOSS_MAPPING entries for ForCausalLMLoss).
_CAUSAL_LOSS_TYPES = frozenset(
    {"ForCausalLM", "ForConditionalGeneration", "CsmForConditionalGeneration"}
)
# Class-name patterns of transformers' causal-LM auto mapping, used for label smoothing's shift.
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ModelWithLMHead")
_CAUSAL_EXTRA_NAMES = frozenset(
    {
        "BertGenerationDecoder",
        "Gemma3ForConditionalGeneration",
        "Gemma3nForConditionalGeneration",
        "Gemma4ForConditionalGeneration",
        "Gemma4UnifiedForConditionalGeneration",
        "GotOcr2ForConditionalGeneration",
        "MossTranscribeDiarizeForConditionalGeneration",
    }
)


def unwrap_peft(model: Any) -> Any:
    """The base model of a PEFT wrapper (duck-typed), else the model itself."""
    if hasattr(model, "peft_config") and hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


def find_labels(model_class: type) -> list[str]:
    """Forward parameters naming labels; QA models also use start/end positions."""
    params = inspect.signature(model_class.forward).parameters  # type: ignore[attr-defined]
    if "QuestionAnswering" in model_class.__name__:
        return [p for p in params if "label" in p or p in ("start_positions", "end_positions")]
    return [p for p in params if "label" in p]


def can_return_loss(model_class: type) -> bool:
    """Whether forward has `return_loss=True` as a default (CLIP-like models)."""
    params = inspect.signature(model_class.forward).parameters  # type: ignore[attr-defined]
    return "return_loss" in params and params["return_loss"].default is True


def accepts_loss_kwargs(model: Any) -> bool:
    """`model.accepts_loss_kwargs` when defined, else whether forward takes `**kwargs`."""
    if hasattr(model, "accepts_loss_kwargs"):
        return bool(model.accepts_loss_kwargs)
    params = inspect.signature(model.forward).parameters
    return any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


def loss_shifts_labels(model: Any) -> bool:
    """A causal-LM loss (by `loss_type`) on a decoder-only model: label 0 of each row is never a target."""
    if getattr(model, "loss_type", None) not in _CAUSAL_LOSS_TYPES:
        return False
    return not getattr(getattr(model, "config", None), "is_encoder_decoder", False)


def is_causal_lm_class(model: Any) -> bool:
    """Whether the model class is one of transformers' causal-LM classes (label smoothing shifts then)."""
    name = type(model).__name__
    return name.endswith(_CAUSAL_SUFFIXES) or name in _CAUSAL_EXTRA_NAMES


def count_items_in_batch(batches: Sequence[Any], shifts_labels: bool) -> torch.Tensor | None:
    """Sum of label tokens that are not -100 over the micro-batches of one optimizer step.

    `shift_labels` is counted when the collator gives it; otherwise `labels[..., 1:]` for
    causal-LM losses, else `labels`. The sum stays on the device: no host synchronisation.
    """
    try:
        counts = []
        for batch in batches:
            if "shift_labels" in batch:
                labels = batch["shift_labels"]
            elif shifts_labels:
                labels = batch["labels"][..., 1:]
            else:
                labels = batch["labels"]
            counts.append(labels.ne(-100).sum())
    except (TypeError, AttributeError):
        return None
    total: Any = sum(counts)
    return total if isinstance(total, torch.Tensor) else None


def loss_from_outputs(
    outputs: Any, inputs: Mapping[str, Any], label_names: Sequence[str]
) -> torch.Tensor:
    """`outputs["loss"]` for dict-like outputs, `outputs[0]` for tuples; a clear error when it is missing."""
    if isinstance(outputs, dict):
        if "loss" not in outputs:
            labels = [k for k in label_names if k in inputs] or list(label_names)
            raise ValueError(
                "The model did not return a loss from the inputs, only the following keys: "
                f"{','.join(outputs.keys())}. For reference, the inputs it received are {','.join(inputs.keys())}. "
                f"The Trainer looked for the label keys {labels}: make sure the model's forward computes and returns "
                "a `loss` when it gets them (or pass `compute_loss_func`, or set `label_names`)."
            )
        return outputs["loss"]
    if isinstance(outputs, torch.Tensor) and outputs.dim() == 0:
        # A bare scalar is the loss itself (transformers would fail indexing it).
        return outputs
    if isinstance(outputs, (tuple, list, torch.Tensor)) and len(outputs) > 0:
        return outputs[0]
    raise ValueError(
        f"The model returned a {type(outputs).__name__}, from which the Trainer cannot take a loss: return a dict "
        "or ModelOutput with a `loss` key, or a tuple whose first element is the loss."
    )


class LabelSmoother:
    """Label smoothing on a model's logits: `(1-ε)·NLL + ε·mean over the vocabulary of -log p`.

    Labels equal to `ignore_index` are skipped. The sum is normalised by `num_items_in_batch`
    when the Trainer gives it (whole accumulated step), else by this batch's active tokens.
    """

    def __init__(self, epsilon: float = 0.1, ignore_index: int = -100) -> None:
        self.epsilon = epsilon
        self.ignore_index = ignore_index

    def __repr__(self) -> str:
        return f"LabelSmoother(epsilon={self.epsilon}, ignore_index={self.ignore_index})"

    def __call__(
        self,
        model_output: Any,
        labels: torch.Tensor,
        shift_labels: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        logits = model_output["logits"] if isinstance(model_output, dict) else model_output[0]
        if shift_labels:
            logits = logits[..., :-1, :].contiguous()
            labels = labels[..., 1:].contiguous()
        log_probs = -nn.functional.log_softmax(logits, dim=-1)
        if labels.dim() == log_probs.dim() - 1:
            labels = labels.unsqueeze(-1)
        padding_mask = labels.eq(self.ignore_index)
        # gather cannot take -100; those positions are masked out below anyway.
        nll_loss = log_probs.gather(dim=-1, index=torch.clamp(labels, min=0))
        smoothed_loss = log_probs.sum(dim=-1, keepdim=True, dtype=torch.float32)
        nll_loss.masked_fill_(padding_mask, 0.0)
        smoothed_loss.masked_fill_(padding_mask, 0.0)
        denominator: Any
        if num_items_in_batch is None:
            denominator = padding_mask.numel() - padding_mask.long().sum()
        elif isinstance(num_items_in_batch, torch.Tensor):
            denominator = num_items_in_batch.to(nll_loss.device)
        else:
            denominator = num_items_in_batch
        nll = nll_loss.sum() / denominator
        smoothed = smoothed_loss.sum() / (denominator * log_probs.shape[-1])
        return (1 - self.epsilon) * nll + self.epsilon * smoothed
