"""Reciprocal rank fusion of ranked result lists (hybrid search)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "reciprocal_rank_fusion"]

RRF_K = 60  # the constant of Cormack et al. (2009); flattens the head of each list
K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(*rankings: Sequence[K], k: int = RRF_K) -> list[tuple[K, float]]:
    """Ids ordered by the sum of 1 / (k + rank) over the lists they appear in.

    Scale-free, so BM25 scores and cosine distances need no calibration. Ties keep the
    order of first appearance (the first list wins).
    """
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
