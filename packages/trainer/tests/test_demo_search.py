"""Greedy and beam search: eos handling, padding, and agreement with transformers' decoding."""

from __future__ import annotations

import itertools

import pytest
import torch

from trainer.demos.search import beam_search, greedy_search

EOS, PAD = 1, 0


def markov_scorer(table: torch.Tensor):
    """Next-token logits that depend only on the last token: `table[last]`."""

    def next_token_logits(sequences: torch.Tensor) -> torch.Tensor:
        return table[sequences[:, -1]]

    return next_token_logits


def test_greedy_stops_at_eos_and_pads_finished_rows() -> None:
    # Row 0 starts at token 2 (2 -> 3 -> eos), row 1 at token 4 (4 -> 4 -> 4 ...).
    table = torch.full((5, 5), -10.0)
    table[2, 3] = table[3, EOS] = table[4, 4] = 0.0
    table[EOS, 2] = 0.0
    prompt = torch.tensor([[2], [4]])
    out = greedy_search(
        markov_scorer(table), prompt, max_length=6, eos_token_id=EOS, pad_token_id=PAD
    )
    assert out.tolist() == [[2, 3, EOS, PAD, PAD, PAD], [4, 4, 4, 4, 4, 4]]


def test_greedy_width_is_the_longest_sequence() -> None:
    table = torch.full((5, 5), -10.0)
    table[2, 3] = table[3, EOS] = table[4, EOS] = 0.0
    out = greedy_search(markov_scorer(table), torch.tensor([[2], [4]]), 10, EOS, PAD)
    assert out.tolist() == [[2, 3, EOS], [4, EOS, PAD]]


def _exhaustive_best(table: torch.Tensor, start: int, max_length: int) -> tuple[list[int], float]:
    """Best finished hypothesis under transformers' score (sum log p / generated length)."""
    log_probs = torch.log_softmax(table, dim=-1)
    best: tuple[list[int], float] = ([], float("-inf"))
    vocab = table.shape[0]
    for length in range(1, max_length):
        for tail in itertools.product(range(vocab), repeat=length):
            # Only sequences whose sole eos is the last token, or that hit max_length.
            if EOS in tail[:-1] or (tail[-1] != EOS and length != max_length - 1):
                continue
            seq = [start, *tail]
            score = sum(float(log_probs[a, b]) for a, b in itertools.pairwise(seq)) / length
            if score > best[1]:
                best = (seq, score)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_wide_beam_finds_the_best_hypothesis(seed: int) -> None:
    # With as many beams as there are sequences, beam search is exhaustive.
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(4, 4, generator=generator) * 2
    max_length = 4
    expected, _ = _exhaustive_best(table, 2, max_length)
    out = beam_search(markov_scorer(table), torch.tensor([[2]]), 64, max_length, EOS, PAD)
    assert out[0, : len(expected)].tolist() == expected
    assert (out[0, len(expected) :] == PAD).all()


def test_beam_search_expands_each_example_separately() -> None:
    table = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    scorer = markov_scorer(table)
    both = beam_search(scorer, torch.tensor([[2], [3]]), 3, 6, EOS, PAD)
    first = beam_search(scorer, torch.tensor([[2]]), 3, 6, EOS, PAD)
    second = beam_search(scorer, torch.tensor([[3]]), 3, 6, EOS, PAD)
    assert both[0, : first.shape[1]].tolist() == first[0].tolist()
    assert both[1, : second.shape[1]].tolist() == second[0].tolist()


def test_prompt_at_max_length_is_returned_unchanged() -> None:
    prompt = torch.tensor([[2, 3]])
    table = torch.zeros(4, 4)
    assert beam_search(markov_scorer(table), prompt, 2, 2, EOS, PAD).tolist() == [[2, 3]]
    assert greedy_search(markov_scorer(table), prompt, 2, EOS, PAD).tolist() == [[2, 3]]


def test_several_eos_tokens() -> None:
    # Token 3 and token 1 both end a sequence.
    table = torch.full((5, 5), -10.0)
    table[2, 3] = table[4, EOS] = 0.0
    table[2, 4] = -0.5
    out = greedy_search(markov_scorer(table), torch.tensor([[2], [4]]), 6, [EOS, 3], PAD)
    assert out.tolist() == [[2, 3], [4, EOS]]
    beams = beam_search(markov_scorer(table), torch.tensor([[2]]), 2, 6, [EOS, 3], PAD)
    assert beams.tolist() == [[2, 3]]
