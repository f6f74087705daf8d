"""Benchmark: knowledge-base ingest rate and FTS / vector / hybrid search latency.

Synthetic FAQs (Zipf-distributed pseudo-words) are bulk-imported with vectors from the fake
embeddings server, run in a subprocess and reached over real HTTP, so a query's embedding
round trip is part of the vector and hybrid timings. Index upkeep (FTS merge, the vector
index past 10k chunks) is awaited before timing. ``vector_recall_at_10``: the share of
the exact (brute-force) 10 nearest chunks that the vector search's top 10 finds, averaged
over ``--recall-queries`` queries. Prints one JSON line:

    {"bench": "kb_search", "chunks": N, "fts_p99_ms": .., "vector_p99_ms": ..,
     "hybrid_p99_ms": .., "vector_recall_at_10": .., "ingest_chunks_per_s": .., ...}

Usage: python -m tests.bench.kb_search [--chunks 100000] [--dims 1536] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from desktop.core.kb import FaqInput, KnowledgeBase, OpenAIEmbedder, SearchMode
from desktop.core.kb.text import normalize_for_search
from tests.fakes.server import serve_in_process

ROOT = Path(__file__).resolve().parents[2]
SYLLABLES = [c + v for c in "bcdfghjklmnprstvzšçë" for v in "aeiouy"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class Corpus:
    """Deterministic FAQ-like texts whose word frequencies follow Zipf's law, like language."""

    def __init__(self, seed: int = 7, words: int = 20_000) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(words, self.rng)
        ranks = np.arange(1, len(self.words) + 1)
        self.cum_weights = np.cumsum(1.0 / ranks**1.07).tolist()

    def sentence(self, low: int, high: int) -> str:
        n = self.rng.randint(low, high)
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum_weights, k=n))

    def faqs(self, count: int) -> Iterator[FaqInput]:
        for i in range(count):
            yield FaqInput(
                question=self.sentence(6, 12) + "?",
                answer=". ".join(self.sentence(8, 16) for _ in range(self.rng.randint(3, 8))) + ".",
                item_id=f"faq{i}",
            )

    def query(self) -> str:
        return self.sentence(3, 7)


@contextmanager
def embeddings_server(dims: int) -> Iterator[str]:
    """The fake embeddings server in its own process (its CPU work must not share our GIL)."""
    with serve_in_process("tests.fakes.embeddings", "--dims", str(dims)) as url:
        yield url


def percentile(samples: list[float], q: float) -> float:
    return round(float(np.percentile(samples, q)), 2)


async def recall_at_10(kb: KnowledgeBase, embedder: OpenAIEmbedder, texts: list[str]) -> float:
    """Mean share of the exact 10 nearest chunks found by the vector search's top 10."""
    table = kb._store.table  # the exact answer bypasses the index on the same table
    found = 0
    for text in texts:
        hits = await kb.search(text, k=10, mode="vector")
        (vector,) = await embedder.embed([normalize_for_search(text[:2000])])
        exact = await (
            table.query()
            .nearest_to(np.asarray(vector, dtype=np.float32))
            .column("vector")
            .distance_type("cosine")
            .bypass_vector_index()
            .select(["chunk_id", "_distance"])
            .limit(10)
            .to_arrow()
        )
        found += len({h.chunk_id for h in hits} & set(exact.column("chunk_id").to_pylist()))
    return round(found / (10 * len(texts)), 3)


async def run(chunks: int, dims: int, queries: int, recall_queries: int) -> dict[str, object]:
    corpus = Corpus()
    with embeddings_server(dims) as url, tempfile.TemporaryDirectory() as tmp:
        embedder = OpenAIEmbedder(
            base_url=url, api_key="bench", model="fake", dims=dims, max_retries=0,
            batch_size=256, concurrency=4,
        )  # fmt: skip
        kb = await KnowledgeBase.open(Path(tmp) / "kb", embedder=embedder, language="auto")
        try:
            started = time.perf_counter()
            await kb.add_faqs(corpus.faqs(chunks), batch_size=4096)
            ingest_s = time.perf_counter() - started
            started = time.perf_counter()
            await kb.wait_idle()
            index_s = time.perf_counter() - started
            texts = [corpus.query() for _ in range(queries)]
            result: dict[str, object] = {"bench": "kb_search", "chunks": chunks, "dims": dims}
            modes: list[SearchMode] = ["fts", "vector", "hybrid"]
            for mode in modes:
                for text in texts[:10]:  # warm caches and connections
                    await kb.search(text, mode=mode)
                timings = []
                for text in texts:
                    t0 = time.perf_counter()
                    await kb.search(text, k=8, mode=mode)
                    timings.append((time.perf_counter() - t0) * 1000)
                result[f"{mode}_p50_ms"] = percentile(timings, 50)
                result[f"{mode}_p99_ms"] = percentile(timings, 99)
            result["vector_recall_at_10"] = await recall_at_10(kb, embedder, texts[:recall_queries])
            result["ingest_chunks_per_s"] = round(chunks / ingest_s, 1)
            result["index_upkeep_s"] = round(index_s, 1)
            result["queries"] = queries
            return result
        finally:
            await kb.close()
            await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--recall-queries", type=int, default=100, help="queries checked against exact search"
    )
    parser.add_argument("--quick", action="store_true", help="12k chunks, 100 queries")
    args = parser.parse_args()
    if args.quick:  # just past the vector index threshold, so the index is measured
        args.chunks, args.queries = min(args.chunks, 12_000), min(args.queries, 100)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("LANCE_LOG", "error")
    figures = asyncio.run(run(args.chunks, args.dims, args.queries, args.recall_queries))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
