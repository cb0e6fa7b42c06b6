"""`BatchRebalanceSampler`: cost-balanced micro-batches for `train_sampling_strategy="batch_rebalance"`.

Same algorithm and index order as transformers 5.x' `BatchRebalanceSampler` (the "poor man's batch
rebalance"). It is a *batch* sampler: it yields lists of indices, one list per micro-batch of this
rank, and the DataLoader takes it as `batch_sampler` (see `trainer_loop.data.loaders.build_dataloader`).

For every optimizer step it takes the next `effective_batch_size` shuffled examples (the same set
on every rank, because every rank shares the seed), sorts them by length, cuts them into
`dp_size * grad_accum` contiguous groups whose sizes are tuned until their padded cost is about
equal, and deals the groups by descending cost: the `dp_size` dearest form micro-batch slot 0
(one per rank), the next `dp_size` slot 1, and so on. No communication between ranks is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["BatchRebalanceSampler"]


class BatchRebalanceSampler(Sampler[list[int]]):
    """Yield this rank's `grad_accum` micro-batches (lists of indices) for each optimizer step.

    Micro-batches have a variable size: groups of long examples get fewer of them, groups of short
    examples more, so that `cost(bs, max_len) = bs * max_len + 0.001 * bs * max_len**2` (padding
    plus attention's quadratic term) is balanced across ranks and accumulation steps. With
    `drop_last=False` a trailing partial batch is yielded too, padded with examples from the start
    of the epoch's order when it has fewer examples than there are (rank, slot) groups.
    """

    # Weight of attention's O(L^2) term in the cost model.
    QUADRATIC_COST_COEF = 0.001

    def __init__(
        self,
        lengths: Sequence[int],
        effective_batch_size: int,
        dp_size: int,
        grad_accum: int,
        shuffle: bool = True,
        seed: int = 42,
        rank: int = 0,
        drop_last: bool = True,
    ) -> None:
        if dp_size < 1 or grad_accum < 1:
            raise ValueError(f"dp_size ({dp_size}) and grad_accum ({grad_accum}) must be >= 1.")
        if effective_batch_size < dp_size * grad_accum:
            raise ValueError(
                f"effective_batch_size ({effective_batch_size}) must be at least dp_size * grad_accum "
                f"({dp_size * grad_accum}): every micro-batch needs one example."
            )
        self.lengths = list(lengths)
        self.effective_batch_size = effective_batch_size
        self.dp_size = dp_size
        self.grad_accum = grad_accum
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.drop_last = drop_last
        self.epoch = 0
        self.num_full_batches = len(self.lengths) // effective_batch_size
        self.remainder = len(self.lengths) % effective_batch_size
        self.has_tail = (not drop_last) and self.remainder > 0
        self.num_global_batches = self.num_full_batches + (1 if self.has_tail else 0)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for `epoch` (the order depends on `seed + epoch` only)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_global_batches * self.grad_accum

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order: list[int] = torch.randperm(n, generator=generator).tolist()
        else:
            order = list(range(n))
        groups = self.dp_size * self.grad_accum
        size = self.effective_batch_size
        for gb in range(self.num_global_batches):
            batch = order[gb * size : (gb + 1) * size]
            if self.has_tail and gb == self.num_global_batches - 1 and len(batch) < groups:
                # Too small a tail to give every (rank, slot) one example: repeat the epoch's first
                # examples (as torch's DistributedSampler pads), so every rank still steps together.
                pad = groups - len(batch)
                batch = batch + (order * math.ceil(pad / len(order)))[:pad]
            yield from self._assign(batch)[self.rank]

    # ---- cost model --------------------------------------------------------------------------

    def _cost(self, bs: int, max_len: int) -> float:
        return bs * max_len + self.QUADRATIC_COST_COEF * bs * max_len * max_len

    def _group_costs(self, counts: Sequence[int], sorted_lengths: Sequence[int]) -> list[float]:
        """Cost of each contiguous group; lengths are sorted descending, so a group's first is its max."""
        costs = []
        start = 0
        for count in counts:
            costs.append(self._cost(count, sorted_lengths[start]) if count else 0.0)
            start += count
        return costs

    # ---- assignment --------------------------------------------------------------------------

    def _assign(self, indices: Sequence[int]) -> list[list[list[int]]]:
        """Per rank, per accumulation slot, the indices of one micro-batch of this global batch."""
        # A stable sort: equal lengths keep their shuffled order (as upstream, for the same output).
        ranked = sorted(indices, key=lambda i: self.lengths[i], reverse=True)
        sorted_lengths = [self.lengths[i] for i in ranked]
        counts = self._balance_counts(sorted_lengths)
        starts = [sum(counts[:g]) for g in range(len(counts))]
        costs = self._group_costs(counts, sorted_lengths)
        by_cost = sorted(range(len(counts)), key=lambda g: costs[g], reverse=True)
        rank_batches: list[list[list[int]]] = [[] for _ in range(self.dp_size)]
        for slot in range(self.grad_accum):
            for r in range(self.dp_size):
                g = by_cost[slot * self.dp_size + r]
                rank_batches[r].append(ranked[starts[g] : starts[g] + counts[g]])
        return rank_batches

    def _balance_counts(self, sorted_lengths: Sequence[int]) -> list[int]:
        """Sizes of the `dp_size * grad_accum` contiguous groups, by hill climbing on their costs.

        Each step moves one example from the dearest active group to the cheapest. It stops on a
        repeated state (no improving move left), when all active costs are equal, or after the
        iteration budget, and returns the smallest-spread state seen. A dearest group already down
        to one example cannot shrink: its whole slot is topped up and frozen instead.
        """
        n, k = len(sorted_lengths), self.dp_size * self.grad_accum
        if n < k:
            raise ValueError(
                f"Not enough samples ({n}) to fill {k} groups with at least 1 sample(s) each. "
                "Reduce effective_batch_size or increase the dataset size."
            )
        counts = [n // k + (1 if g < n % k else 0) for g in range(k)]
        frozen: set[int] = set()
        seen: set[tuple[int, ...]] = set()
        best_spread, best_counts = math.inf, list(counts)
        # One example moves per step, so convergence is O(n); `k * 30` is the floor for tiny batches.
        for _ in range(max(k * 30, self.effective_batch_size)):
            if tuple(counts) in seen:
                break
            seen.add(tuple(counts))
            costs = self._group_costs(counts, sorted_lengths)
            active = [g for g in range(k) if g not in frozen]
            if len(active) <= 1:
                break
            hi = max(active, key=lambda g: costs[g])
            lo = min(active, key=lambda g: costs[g])
            if costs[hi] - costs[lo] < best_spread:
                best_spread, best_counts = costs[hi] - costs[lo], list(counts)
            if costs[hi] == costs[lo]:
                break
            if counts[hi] > 1:
                counts[hi] -= 1
                counts[lo] += 1
            else:
                slot = self._slot_groups(costs, hi)
                self._relieve_and_freeze(counts, slot, hi, frozen, sorted_lengths, costs[hi])
        return best_counts

    def _slot_groups(self, costs: Sequence[float], pivot: int) -> set[int]:
        """The groups that would share `pivot`'s micro-batch slot if dealt by cost now."""
        ranking = sorted(range(len(costs)), key=lambda g: costs[g], reverse=True)
        start = ranking.index(pivot) // self.dp_size * self.dp_size
        # A set, iterated as upstream iterates it: the top-up order below depends on it.
        return set(ranking[start : min(start + self.dp_size, len(costs))])

    def _relieve_and_freeze(
        self,
        counts: list[int],
        slot: set[int],
        pivot: int,
        frozen: set[int],
        sorted_lengths: Sequence[int],
        cap_cost: float,
    ) -> None:
        """Top up `slot`'s other groups from cheaper outside groups (never above `cap_cost`), then
        freeze the slot: its dearest group cannot give examples away any more."""
        for g in slot:
            if g in frozen or g == pivot:
                continue
            while True:
                costs = self._group_costs(counts, sorted_lengths)
                max_len = sorted_lengths[sum(counts[:g])] if counts[g] > 0 else 0
                if self._cost(counts[g] + 1, max_len) > cap_cost:
                    break
                donors = [
                    d
                    for d in range(len(counts))
                    if d not in frozen and d not in slot and counts[d] > 1
                ]
                if not donors:
                    break
                donor = min(donors, key=lambda d: costs[d])
                counts[g] += 1
                counts[donor] -= 1
        frozen.update(slot)
