"""Greedy and beam search over any model that scores the next token (`TinySeq2Seq.generate`).

`next_token_logits(sequences)` receives the sequences decoded so far, shape
`(rows, length)`, and returns logits for the next token, shape `(rows, vocab)`. Both searches
return `(batch, length)` ids that start with the prompt; sequences that ended early are
filled with `pad_token_id`, and the width is that of the longest sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

__all__ = ["beam_search", "greedy_search"]

NextTokenLogits = Callable[[torch.Tensor], torch.Tensor]
EosTokens = int | Sequence[int] | None
_NEG_INF = -1.0e9  # "not a candidate": finite, so sums and divisions stay well defined


def _eos_list(eos_token_id: EosTokens) -> list[int]:
    if eos_token_id is None:
        return []
    return [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)


def _is_eos(tokens: torch.Tensor, eos: list[int]) -> torch.Tensor:
    return torch.isin(tokens, torch.tensor(eos, dtype=tokens.dtype, device=tokens.device))


def greedy_search(
    next_token_logits: NextTokenLogits,
    prompt: torch.Tensor,
    max_length: int,
    eos_token_id: EosTokens,
    pad_token_id: int,
) -> torch.Tensor:
    """Pick the most likely token at each step until every row emitted eos or `max_length`."""
    eos = _eos_list(eos_token_id)
    sequences = prompt
    unfinished = torch.ones(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    while sequences.shape[1] < max_length:
        tokens = next_token_logits(sequences).argmax(dim=-1)
        tokens = torch.where(unfinished, tokens, torch.full_like(tokens, pad_token_id))
        sequences = torch.cat([sequences, tokens[:, None]], dim=1)
        if eos:
            unfinished &= ~_is_eos(tokens, eos)
        if not unfinished.any():
            break
    return sequences


def _gather(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick `index` (batch, n) along dim 1 of `values` (batch, m, ...)."""
    expanded = index.view(*index.shape, *([1] * (values.dim() - 2)))
    return values.gather(1, expanded.expand(*index.shape, *values.shape[2:]))


def beam_search(
    next_token_logits: NextTokenLogits,
    prompt: torch.Tensor,
    num_beams: int,
    max_length: int,
    eos_token_id: EosTokens,
    pad_token_id: int,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> torch.Tensor:
    """Beam search with transformers' scoring: finished hypotheses score
    `sum(log p) / generated_length ** length_penalty`, and a row stops when it holds
    `num_beams` finished hypotheses that no running beam can still beat (with
    `early_stopping=True`: as soon as it holds them; with `"never"`: judged at the best
    possible length).

    `prompt` has one row per example; each is expanded to `num_beams` beams here, and the
    model sees `batch * num_beams` rows (example-major).
    """
    batch, prompt_len = prompt.shape
    device = prompt.device
    eos = _eos_list(eos_token_id)
    # Enough candidates that num_beams stay alive even if every eos token is among them.
    keep = max(2, 1 + len(eos)) * num_beams
    running = prompt[:, None, :].expand(batch, num_beams, prompt_len)
    running_scores = torch.full((batch, num_beams), _NEG_INF, device=device)
    running_scores[:, 0] = 0.0  # identical beams at the start: only the first one may expand
    if prompt_len >= max_length:
        return prompt
    finished = torch.full(
        (batch, num_beams, max_length), pad_token_id, dtype=prompt.dtype, device=device
    )
    finished_scores = torch.full((batch, num_beams), _NEG_INF, device=device)
    finished_lengths = torch.zeros((batch, num_beams), dtype=torch.long, device=device)
    row_done = torch.zeros(batch, dtype=torch.bool, device=device)
    rank_in_top = torch.arange(keep, device=device) < num_beams

    for cur_len in range(prompt_len, max_length):
        logits = next_token_logits(running.reshape(batch * num_beams, cur_len))
        log_probs = torch.log_softmax(logits.float(), dim=-1).view(batch, num_beams, -1)
        vocab = log_probs.shape[-1]
        scores = (running_scores[:, :, None] + log_probs).view(batch, -1)
        top_scores, top_index = scores.topk(keep, dim=1)
        tokens = top_index % vocab
        candidates = torch.cat([_gather(running, top_index // vocab), tokens[..., None]], dim=2)
        ends = torch.full_like(tokens, cur_len + 1 == max_length, dtype=torch.bool)
        if eos:
            ends |= _is_eos(tokens, eos)

        generated = cur_len + 1 - prompt_len
        # Only the best num_beams candidates may become final hypotheses (as transformers).
        can_finish = ends & rank_in_top & ~row_done[:, None]
        normalised = torch.where(can_finish, top_scores / generated**length_penalty, _NEG_INF)
        padded = torch.full_like(finished[:, :1], pad_token_id).repeat(1, keep, 1)
        padded[:, :, : cur_len + 1] = candidates
        pool_scores = torch.cat([finished_scores, normalised], dim=1)
        best = pool_scores.topk(num_beams, dim=1).indices
        finished = _gather(torch.cat([finished, padded], dim=1), best)
        finished_scores = _gather(pool_scores, best)
        new_lengths = torch.full_like(tokens, cur_len + 1)
        finished_lengths = _gather(torch.cat([finished_lengths, new_lengths], dim=1), best)

        alive_scores = top_scores.masked_fill(ends, _NEG_INF)
        best = alive_scores.topk(num_beams, dim=1).indices
        running = _gather(candidates, best)
        running_scores = _gather(alive_scores, best)

        full = (finished_scores > _NEG_INF / 2).all(dim=1)
        if early_stopping is True:
            row_done |= full
        else:
            # "never" with a positive penalty: longer is better, so assume the longest.
            best_length = generated
            if early_stopping == "never" and length_penalty > 0.0:
                best_length = max_length - prompt_len
            best_possible = running_scores[:, 0] / best_length**length_penalty
            row_done |= full & (best_possible <= finished_scores.min(dim=1).values)
        if row_done.all():
            break

    width = int(finished_lengths[:, 0].max())
    return finished[:, 0, :width]
