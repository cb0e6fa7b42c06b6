"""A tiny plain-torch encoder-decoder: the model of `trainer demo seq2seq` (and of the tests).

`TinySeq2Seq` follows the conventions of transformers' encoder-decoder models closely
enough for a Trainer: `forward(input_ids, attention_mask, decoder_input_ids, labels)` returns
a `ModelOutput` with `loss` (when labels are given) and `logits`; labels are shifted right
behind `decoder_start_token_id` to make the decoder inputs, and -100 labels are ignored;
`generate()` does greedy or beam search (`trainer.demos.search`); `config` and
`generation_config` hold its settings. A demo, not library API: it lives with the demos
rather than in trainer-seq2seq, whose `Seq2SeqTrainer` works with any model that generates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from trainer.demos.search import beam_search, greedy_search
from trainer_loop.outputs import ModelOutput
from trainer_seq2seq.generation import GENERATION_CONFIG_NAME, GenerationConfig

__all__ = ["TinySeq2Seq", "TinySeq2SeqConfig"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

# generate() kwargs that change nothing for this model: a Trainer passes `synced_gpus`, and
# batches carry `labels` (generation must not look at them).
_IGNORED_GENERATE_KWARGS = frozenset(
    {"synced_gpus", "use_cache", "labels", "decoder_attention_mask"}
)


@attrs.define(slots=False)  # like transformers configs, a Trainer may set extra attributes
class TinySeq2SeqConfig:
    """Sizes and special token ids of a `TinySeq2Seq`."""

    vocab_size: int = 32
    d_model: int = 32
    num_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dim_feedforward: int = 64
    max_position_embeddings: int = 64
    dropout: float = 0.0
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    is_encoder_decoder: bool = True
    use_cache: bool = True  # set by Trainers; the model recomputes the decoder at each step anyway

    def to_dict(self) -> dict[str, Any]:
        """The settings as a dict, as written to `config.json`."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinySeq2SeqConfig:
        """Build a config from a dict such as `config.json`; unknown keys are ignored."""
        known = attrs.fields_dict(cls)
        return cls(**{k: v for k, v in data.items() if k in known})


def shift_tokens_right(
    labels: torch.Tensor, start_token_id: int, pad_token_id: int
) -> torch.Tensor:
    """Decoder inputs for teacher forcing: start token, then the labels minus the last one."""
    shifted = labels.new_full(labels.shape, start_token_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_token_id)


class TinySeq2Seq(nn.Module):
    """Embeddings + learned positions + Transformer encoder/decoder (pre-norm) + a tied LM head."""

    def __init__(self, config: TinySeq2SeqConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else TinySeq2SeqConfig()
        cfg = self.config
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_token_id)
        self.positions = nn.Embedding(cfg.max_position_embeddings, cfg.d_model)
        layer: dict[str, Any] = {
            "d_model": cfg.d_model,
            "nhead": cfg.num_heads,
            "dim_feedforward": cfg.dim_feedforward,
            "dropout": cfg.dropout,
            "batch_first": True,
            "norm_first": True,
        }
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer),
            cfg.num_encoder_layers,
            norm=nn.LayerNorm(cfg.d_model),
            enable_nested_tensor=False,  # unavailable with norm_first; avoids a warning
        )
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer),
            cfg.num_decoder_layers,
            norm=nn.LayerNorm(cfg.d_model),
        )
        # Small embeddings: the LM head is tied to them, so logits start near uniform.
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)
        nn.init.normal_(self.positions.weight, std=cfg.d_model**-0.5)
        self.generation_config = GenerationConfig(
            pad_token_id=cfg.pad_token_id,
            eos_token_id=cfg.eos_token_id,
            decoder_start_token_id=cfg.decoder_start_token_id,
        )

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.embed(ids) + self.positions(positions)[None]

    def encode(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder states and the key padding mask (True = padding) the decoder must honour."""
        padding = None if attention_mask is None else attention_mask == 0
        memory = self.encoder(self._embed(input_ids), src_key_padding_mask=padding)
        return memory, padding

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        memory: torch.Tensor,
        memory_padding: torch.Tensor | None,
    ) -> torch.Tensor:
        """Logits for every decoder position, shape `(batch, target_length, vocab)`."""
        length = decoder_input_ids.shape[1]
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=memory.device)
        hidden = self.decoder(
            self._embed(decoder_input_ids),
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            memory_key_padding_mask=memory_padding,
        )
        return hidden @ self.embed.weight.T

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Logits for every decoder position, and the loss when `labels` are given.

        Args:
            input_ids: Source token ids, `(batch, source_length)`.
            attention_mask: 1 for source tokens, 0 for padding; default: no padding.
            decoder_input_ids: Decoder inputs, `(batch, target_length)`; default: `labels`
                shifted right behind `decoder_start_token_id` (teacher forcing).
            labels: Target ids, `(batch, target_length)`; positions set to -100 are left
                out of the loss.

        Returns:
            A `ModelOutput` with `loss` (mean cross-entropy; only with `labels`) and
            `logits`, `(batch, target_length, vocab_size)`.

        Raises:
            ValueError: Neither `decoder_input_ids` nor `labels` is given.
        """
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("TinySeq2Seq.forward needs `decoder_input_ids` or `labels`.")
            decoder_input_ids = shift_tokens_right(
                labels, self.config.decoder_start_token_id, self.config.pad_token_id
            )
        memory, padding = self.encode(input_ids, attention_mask)
        logits = self.decode(decoder_input_ids, memory, padding)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
            )
        return ModelOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        max_length: int | None = None,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        decoder_input_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Generated ids `(batch, length)`, starting with the decoder start token.

        Call kwargs override `self.generation_config`; `max_new_tokens` wins over
        `max_length` (the decoder start token is not a new token). Supported extra kwargs:
        `length_penalty`, `early_stopping`, `eos_token_id`, `pad_token_id`,
        `decoder_start_token_id`. `decoder_input_ids` is a decoder prompt to continue (default:
        the start token); `synced_gpus`, `use_cache` and `labels` are accepted and ignored.
        """
        config = self._resolve_generation_config(
            max_length=max_length, max_new_tokens=max_new_tokens, num_beams=num_beams, **kwargs
        )
        memory, padding = self.encode(input_ids, attention_mask)
        if config.num_beams > 1:
            memory = memory.repeat_interleave(config.num_beams, dim=0)
            if padding is not None:
                padding = padding.repeat_interleave(config.num_beams, dim=0)

        def next_token_logits(sequences: torch.Tensor) -> torch.Tensor:
            return self.decode(sequences, memory, padding)[:, -1, :]

        prompt = decoder_input_ids
        if prompt is None:
            start = config.decoder_start_token_id
            prompt = input_ids.new_full((input_ids.shape[0], 1), start if start is not None else 0)
        pad = config.pad_token_id if config.pad_token_id is not None else 0
        if config.max_new_tokens is None:
            length = config.max_length
        else:
            length = config.max_new_tokens + prompt.shape[1]
        if config.num_beams == 1:
            return greedy_search(next_token_logits, prompt, length, config.eos_token_id, pad)
        return beam_search(
            next_token_logits,
            prompt,
            num_beams=config.num_beams,
            max_length=length,
            eos_token_id=config.eos_token_id,
            pad_token_id=pad,
            length_penalty=config.length_penalty,
            early_stopping=config.early_stopping,
        )

    def save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        state_dict: dict[str, torch.Tensor] | None = None,
        is_main_process: bool = True,
    ) -> None:
        """Write `model.safetensors`, `config.json` and `generation_config.json`.

        Trainers call this for checkpoints and `save_model()` (so checkpoints carry the
        generation config, as with transformers models); `from_pretrained` reads it back.
        """
        if not is_main_process:
            return
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        weights = state_dict if state_dict is not None else self.state_dict()
        weights = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
        save_file(weights, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        gen_config = self.generation_config
        if callable(getattr(gen_config, "save_pretrained", None)):
            gen_config.save_pretrained(folder)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike[str]) -> TinySeq2Seq:
        """A model saved by `save_pretrained` (weights, config and generation config)."""
        folder = Path(folder)
        config = TinySeq2SeqConfig.from_dict(json.loads((folder / CONFIG_NAME).read_text()))
        model = cls(config)
        model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
        gen_file = folder / GENERATION_CONFIG_NAME
        if gen_file.is_file():
            model.generation_config = GenerationConfig.from_dict(json.loads(gen_file.read_text()))
        return model

    def _resolve_generation_config(self, **overrides: Any) -> GenerationConfig:
        unsupported = sorted(set(overrides) - _IGNORED_GENERATE_KWARGS - _GENERATION_FIELDS)
        if unsupported:
            raise TypeError(f"TinySeq2Seq.generate() does not support {', '.join(unsupported)}.")
        base = self.generation_config
        config = GenerationConfig.from_dict(base.to_dict() if hasattr(base, "to_dict") else {})
        config.update(
            **{k: v for k, v in overrides.items() if k in _GENERATION_FIELDS and v is not None}
        )
        config.validate()
        return config


_GENERATION_FIELDS = frozenset(
    {
        "max_length",
        "max_new_tokens",
        "num_beams",
        "length_penalty",
        "early_stopping",
        "eos_token_id",
        "pad_token_id",
        "decoder_start_token_id",
    }
)
