"""Our searches decode a transformers T5 exactly as its own `generate` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from trainer.demos.search import beam_search, greedy_search

pytestmark = pytest.mark.reference
EOS, PAD = 1, 0


def _scorer(
    model: Any, input_ids: torch.Tensor, repeats: int
) -> Callable[[torch.Tensor], torch.Tensor]:
    with torch.no_grad():
        encoded = model.get_encoder()(input_ids=input_ids).last_hidden_state
    encoded = encoded.repeat_interleave(repeats, dim=0)

    def next_token_logits(sequences: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = model(encoder_outputs=(encoded,), decoder_input_ids=sequences, use_cache=False)
        return out.logits[:, -1, :]

    return next_token_logits


def _after_eos_as_pad(ids: torch.Tensor) -> torch.Tensor:
    # transformers' beam search fills finished rows with eos when pad_token_id is 0
    # (`pad or eos`); ours always uses pad. Compare the tokens up to eos.
    seen_eos = (ids == EOS).cumsum(dim=1) - (ids == EOS).long() > 0
    return ids.masked_fill(seen_eos, PAD)


@pytest.mark.parametrize("max_length", [3, 8, 12])
def test_greedy_matches_t5_generate(make_t5: Callable[[], Any], max_length: int) -> None:
    t5 = make_t5()
    input_ids = torch.randint(2, 24, (8, 5), generator=torch.Generator().manual_seed(1))
    expected = t5.generate(input_ids=input_ids, max_length=max_length, do_sample=False)
    prompt = torch.zeros((8, 1), dtype=torch.long)
    ours = greedy_search(_scorer(t5, input_ids, 1), prompt, max_length, EOS, PAD)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize(
    ("num_beams", "length_penalty", "early_stopping"),
    [
        (2, 1.0, False),
        (4, 1.0, False),
        (3, 0.5, True),
        (3, 2.0, False),
        (3, -1.0, False),
        (3, 1.5, "never"),
    ],
)
def test_beam_search_matches_t5_generate(
    make_t5: Callable[[], Any], num_beams: int, length_penalty: float, early_stopping: bool | str
) -> None:
    t5 = make_t5()
    input_ids = torch.randint(2, 24, (8, 5), generator=torch.Generator().manual_seed(2))
    expected = t5.generate(
        input_ids=input_ids, max_length=10, num_beams=num_beams,
        length_penalty=length_penalty, early_stopping=early_stopping, do_sample=False,
    )  # fmt: skip
    prompt = torch.zeros((8, 1), dtype=torch.long)
    ours = beam_search(
        _scorer(t5, input_ids, num_beams), prompt, num_beams, 10, EOS, PAD,
        length_penalty=length_penalty, early_stopping=early_stopping,
    )  # fmt: skip
    assert torch.equal(ours, _after_eos_as_pad(expected))
