"""Benchmark: retrieval quality of the knowledge base on an FAQ evaluation set.

Imports ``--kb`` (JSONL of {"id", "title", "text"} and optional "tags") as FAQ items that
keep their ids, asks every question of ``--questions`` through ``KnowledgeBase.search`` and
prints one JSON line:

    {"bench": "kb_quality", "questions": n, "recall_at_1": .., "recall_at_5": .., "mrr": ..}

MRR counts the first relevant item in the top 25 (0 when none). ``--embedder openai`` reads
OPENAI_BASE_URL, OPENAI_API_KEY, CLIENTORA_EMBED_MODEL (and CLIENTORA_EMBED_DIMS, else the
width of a probe vector) and makes search hybrid.

Usage: python -m tests.bench.kb_quality --kb ../shared/data/qa4faq_it.kb.jsonl \\
           --questions ../shared/data/qa4faq_it.dev.questions.jsonl [--language it] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from desktop.core.kb import Embedder, FaqInput, KnowledgeBase, OpenAIEmbedder

TOP = 25


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tags_of(row: dict[str, Any]) -> tuple[str, ...]:
    tags = row.get("tags") or ()
    if isinstance(tags, str):
        tags = re.split(r"\s*[,;]\s*", tags)
    return tuple(t for t in tags if t)


async def openai_embedder() -> OpenAIEmbedder:
    base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    api_key = os.environ.get("OPENAI_API_KEY", "")
    model = os.environ.get("CLIENTORA_EMBED_MODEL", "text-embedding-3-small")
    dims = int(os.environ.get("CLIENTORA_EMBED_DIMS", "0"))
    if not dims:
        probe = OpenAIEmbedder(base_url=base_url, api_key=api_key, model=model, dims=0)
        try:
            dims = await probe.probe_dims()
        finally:
            await probe.aclose()
    return OpenAIEmbedder(base_url=base_url, api_key=api_key, model=model, dims=dims)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    entries = read_jsonl(Path(args.kb))
    questions = read_jsonl(Path(args.questions))
    if args.quick:
        questions = questions[:100]
    embedder: Embedder | None = None
    if args.embedder == "openai":
        embedder = await openai_embedder()
    elif args.embedder == "local":
        raise SystemExit("--embedder local: no local embedding model is installed here")
    with tempfile.TemporaryDirectory() as tmp:
        kb = await KnowledgeBase.open(Path(tmp) / "kb", embedder=embedder, language=args.language)
        try:
            await kb.add_faqs(
                FaqInput(
                    question=e["title"], answer=e["text"], tags=tags_of(e), item_id=str(e["id"])
                )
                for e in entries
            )
            await kb.wait_idle()
            ranks: list[int | None] = []
            timings: list[float] = []
            for q in questions:
                started = time.perf_counter()
                hits = await kb.search(q["question"], k=TOP)
                timings.append((time.perf_counter() - started) * 1000)
                relevant = {str(r) for r in q["relevant_ids"]}
                ids = list(dict.fromkeys(h.item_id for h in hits))
                ranks.append(next((i + 1 for i, x in enumerate(ids) if x in relevant), None))
            n = len(ranks)
            return {
                "bench": "kb_quality",
                "kb": Path(args.kb).name.split(".")[0],
                "questions": n,
                "recall_at_1": round(sum(1 for r in ranks if r == 1) / n, 4),
                "recall_at_5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 4),
                "mrr": round(sum(1 / r for r in ranks if r is not None) / n, 4),
                "embedder": args.embedder,
                "language": kb.language,
                "query_p50_ms": round(statistics.median(timings), 2),
            }
        finally:
            await kb.close()
            if isinstance(embedder, OpenAIEmbedder):
                await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", required=True, help="knowledge base JSONL")
    parser.add_argument("--questions", required=True, help="questions JSONL")
    parser.add_argument("--embedder", choices=["none", "openai", "local"], default="none")
    parser.add_argument("--language", default="auto", help="auto, or an ISO code: it, en, sq...")
    parser.add_argument("--quick", action="store_true", help="first 100 questions only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
