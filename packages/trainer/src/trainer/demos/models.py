"""A tiny GPT-like character language model in plain torch, for the `lm` demo.

Deliberately small (two pre-norm transformer blocks, about 0.2M parameters) so that it
trains in about a minute on two CPU cores; the forward signature follows the transformers
convention (`input_ids`, `labels` shifted inside, returns `loss` and `logits`).
"""

from __future__ import annotations

import attrs
import torch
from torch import nn
from torch.nn import functional as F

from trainer_loop.outputs import ModelOutput

__all__ = ["CharGPT", "CharGPTConfig"]


@attrs.define(slots=False)
class CharGPTConfig:
    """Sizes of a `CharGPT` (mutable, like transformers configs: a Trainer may set flags on it)."""

    vocab_size: int
    block_size: int = 64
    n_embd: int = 96
    n_layer: int = 2
    n_head: int = 4
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention that only looks backwards."""

    def __init__(self, config: CharGPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        # (batch, length, width) -> (batch, heads, length, head width)
        q, k, v = (t.view(batch, length, self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(batch, length, width))


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each added back to the residual."""

    def __init__(self, config: CharGPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    """Next-character prediction; `labels` are the input ids (shifted here, -100 ignored)."""

    def __init__(self, config: CharGPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        # Not tied to tok_emb: shared tensors complicate safetensors checkpoints.
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,  # accepted for collators that add one
    ) -> ModelOutput:
        length = input_ids.shape[1]
        if length > self.config.block_size:
            raise ValueError(f"sequence of {length} > block_size {self.config.block_size}")
        positions = torch.arange(length, device=input_ids.device)
        x = self.tok_emb(input_ids) + self.pos_emb(positions)
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
        return ModelOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue `input_ids`: greedy at temperature 0, else sampled from softmax(logits / T)."""
        for _ in range(max_new_tokens):
            logits = self(input_ids[:, -self.config.block_size :]).logits[:, -1]
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=-1)
                next_id = torch.multinomial(probs, 1, generator=generator)
            else:
                next_id = logits.argmax(dim=-1, keepdim=True)
            input_ids = torch.cat([input_ids, next_id], dim=1)
        return input_ids
