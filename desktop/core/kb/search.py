"""Ranking a query: per-field BM25, vector similarity, or both fused; then the hits."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from .embeddings import Embedder
from .errors import EmbeddingError
from .models import SearchHit, SearchMode
from .ranking import reciprocal_rank_fusion
from .store import ChunkStore
from .text import normalize_for_search

__all__ = ["EXPANSION_WEIGHT", "SearchPlan", "run_search"]

log = logging.getLogger(__name__)

PAYLOAD_DECODER = msgspec.json.Decoder(SearchHit)
#: A translation is weaker evidence than the customer's own word (shops' dev questions:
#: 0.5 keeps 99 % of the MRR gain of full weight and keeps same-language FAQs first).
EXPANSION_WEIGHT = 0.5


async def _fts(store: ChunkStore, plan: SearchPlan) -> list[tuple[int, float]]:
    """Summed BM25 of the query's own words, plus its expansion at a lower weight."""
    if not plan.expansion:
        return await store.fts(plan.text, plan.depth, plan.where, plan.fields)
    own, other = await asyncio.gather(
        store.fts(plan.text, plan.depth, plan.where, plan.fields),
        store.fts(plan.expansion, plan.depth, plan.where, plan.fields),
    )
    scores = dict(own)
    for rowid, score in other:
        scores[rowid] = scores.get(rowid, 0.0) + EXPANSION_WEIGHT * score
    return sorted(scores.items(), key=lambda pair: -pair[1])


class SearchPlan(msgspec.Struct, frozen=True, kw_only=True):
    """One search: ``text`` is the sanitised query for FTS, ``query`` the original."""

    query: str
    text: str
    k: int
    where: str | None
    fields: list[str]
    mode: SearchMode  # "fts", "vector" or "hybrid" (auto already resolved)
    #: Other-language words of the same meaning, searched at :data:`EXPANSION_WEIGHT`.
    expansion: str = ""

    @property
    def depth(self) -> int:
        """How many candidates each ranked list contributes before fusion or summing."""
        return max(3 * self.k, 30)


async def run_search(
    store: ChunkStore, embedder: Embedder | None, plan: SearchPlan
) -> list[SearchHit]:
    """Rank, then read the payloads of the final k rows only (row ids are stable, so a
    compaction in between changes nothing; a row deleted or re-embedded meanwhile is left
    out)."""
    ranked = await _rank(store, embedder, plan)
    payloads = await store.payloads([rowid for rowid, _ in ranked])
    return [
        msgspec.structs.replace(PAYLOAD_DECODER.decode(payloads[rowid]), score=float(score))
        for rowid, score in ranked
        if rowid in payloads
    ]


async def _rank(
    store: ChunkStore, embedder: Embedder | None, plan: SearchPlan
) -> list[tuple[int, float]]:
    """(row id, score) best first: summed BM25, cosine similarity, or fused ranks."""
    k, depth = plan.k, plan.depth
    if plan.mode == "fts" or embedder is None:
        return (await _fts(store, plan))[:k]
    # The FTS query runs while the query is being embedded (an HTTP round trip).
    fts = None
    if plan.mode != "vector":
        fts = asyncio.ensure_future(_fts(store, plan))
    try:
        try:
            embedded = await embedder.embed([normalize_for_search(plan.query[:2000])])
        except Exception as exc:
            if fts is None:
                if isinstance(exc, EmbeddingError):
                    raise
                raise EmbeddingError(f"query embedding failed: {exc}") from exc
            log.warning("query embedding failed (%s); full-text results only", exc)
            return (await fts)[:k]
        nearest = await store.vector(embedded[0], depth, plan.where)
        if fts is None:
            return [(rowid, 1.0 - distance) for rowid, distance in nearest[:k]]
        lexical = await fts
    finally:
        if fts is not None:
            if not fts.done():
                fts.cancel()
            await asyncio.wait({fts})
            if not fts.cancelled():
                fts.exception()  # retrieved: no "never retrieved" noise
    return reciprocal_rank_fusion([r for r, _ in lexical], [r for r, _ in nearest])[:k]
