"""NEFTune: uniform noise added to the input embeddings while training (a forward hook)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["activate_neftune", "deactivate_neftune", "neftune_post_forward_hook"]


def neftune_post_forward_hook(
    module: torch.nn.Module, inputs: Any, output: torch.Tensor
) -> torch.Tensor:
    """In training mode, add `U(-a, a)` noise with `a = alpha / sqrt(seq_len * hidden)`."""
    if module.training:
        dims = torch.tensor(output.size(1) * output.size(2))
        alpha: Any = module.neftune_noise_alpha
        mag_norm: Any = alpha / torch.sqrt(dims)
        output = output + torch.zeros_like(output).uniform_(-mag_norm, mag_norm)
    return output


def _embeddings(model: Any, accelerator: Any) -> torch.nn.Module:
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    if hasattr(unwrapped, "peft_config") and hasattr(unwrapped, "base_model"):
        unwrapped = unwrapped.base_model.model
    if not hasattr(unwrapped, "get_input_embeddings"):
        raise ValueError(
            f"`neftune_noise_alpha` needs a model with `get_input_embeddings()`; `{type(unwrapped).__name__}` has "
            "none. Unset `neftune_noise_alpha` or add that method."
        )
    embeddings: torch.nn.Module = unwrapped.get_input_embeddings()
    return embeddings


def activate_neftune(model: Any, neftune_noise_alpha: float, accelerator: Any = None) -> Any:
    """Attach the noise hook to the input embeddings; returns the hook handle."""
    embeddings = _embeddings(model, accelerator)
    embeddings.neftune_noise_alpha = neftune_noise_alpha  # type: ignore[assignment]
    return embeddings.register_forward_hook(neftune_post_forward_hook)


def deactivate_neftune(model: Any, hook_handle: Any, accelerator: Any = None) -> None:
    """Remove the hook and the alpha attribute."""
    embeddings = _embeddings(model, accelerator)
    hook_handle.remove()
    if hasattr(embeddings, "neftune_noise_alpha"):
        del embeddings.neftune_noise_alpha
