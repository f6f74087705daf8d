"""What the engine adds before the model is asked: an inbound event is stored, the
knowledge base (10,000 chunks) searched, the prompt built and the request sent.

The clock starts just before the stream event is applied to the local store (as the
sync does) and stops when the fake OpenAI server, in this process, receives the chat
request. The assistant's settle time is 0. The search is hybrid by default: chunks and
queries are embedded by the fake embeddings server (tests/fakes/embeddings.py, its own
process, 1536 dimensions) over real HTTP, so the query's embedding round trip is part
of the figure; ``--search fts`` runs without an embedder. A sample whose request does
not arrive within 10 s counts in ``timeouts`` and as 10 s in the percentiles (never
dropped).

The knowledge base (``--corpus``): ``shop`` (the default) is FAQ-like text whose words
follow Zipf's law (tests/bench/kb_search.py's corpus), each FAQ about two of the shop
words below, so a shop word is in a few percent of the chunks, as "delivery" is in a
real shop's; ``dense`` writes every chunk with the shop words alone, so each is in about
three quarters of the chunks (full-text search's worst case). The customer's question is
six shop words either way (so the Albanian/Serbian/English query expansion runs).
Prints one JSON line:
{"bench":"draft_overhead","search":"hybrid","corpus":"shop","p50_ms":..,"p99_ms":..,
"timeouts":0}. ``--quick`` uses fewer chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec

from common.events import Customer, MessageReceived
from common.protocol import EventFrame
from desktop.core.assistant import Assistant
from desktop.core.drafting import AIConfig, LLMDrafter
from desktop.core.kb import FaqInput, KnowledgeBase, OpenAIEmbedder
from desktop.core.outbox import Outbox
from desktop.core.relay_client import RelayClient
from desktop.core.settings import AppSettings
from desktop.core.store import Store
from tests.bench.kb_search import Corpus, embeddings_server
from tests.fakes.openai import ChatRequest, FakeOpenAI, serve_fake_openai

# Shop words in Albanian, Serbian and English (none that asks for a hand-off).
WORDS = [
    "dërgesa",
    "çmimi",
    "madhësia",
    "ngjyra",
    "porosia",
    "orari",
    "dyqani",
    "pagesa",
    "karta",
    "zbritja",
    "oferta",
    "fustani",
    "këpucët",
    "xhaketa",
    "telefoni",
    "ekrani",
    "bateria",
    "kafe",
    "dostava",
    "cena",
    "veličina",
    "boja",
    "porudžbina",
    "radno",
    "vreme",
    "plaćanje",
    "delivery",
    "price",
    "size",
    "colour",
    "order",
    "hours",
    "payment",
]


def _dense_faq(rng: random.Random, n: int) -> FaqInput:
    question = " ".join(rng.choices(WORDS, k=8)) + "?"
    answer = " ".join(rng.choices(WORDS, k=40)) + "."
    return FaqInput(question=question, answer=answer, item_id=f"faq-{n}")


def _faqs(corpus: str, rng: random.Random, count: int) -> Iterator[FaqInput]:
    if corpus == "dense":
        yield from (_dense_faq(rng, n) for n in range(count))
        return
    text = Corpus(seed=11)
    for n in range(count):
        topic = rng.sample(WORDS, 2)
        question = f"{text.sentence(4, 9)} {topic[0]} {topic[1]}?"
        answer = f"{text.sentence(8, 16)} {topic[0]}. {text.sentence(8, 16)} {topic[1]}."
        yield FaqInput(question=question, answer=answer, item_id=f"faq-{n}")


TIMEOUT_S = 10.0
DIMS = 1536


async def run(chunks: int, samples: int, search: str, corpus: str) -> dict[str, object]:
    if search == "fts":
        return await _run(chunks, samples, None, corpus)
    with embeddings_server(DIMS) as url:
        embedder = OpenAIEmbedder(
            base_url=url, api_key="bench", model="fake", dims=DIMS, max_retries=0
        )
        try:
            return await _run(chunks, samples, embedder, corpus)
        finally:
            await embedder.aclose()


async def _run(
    chunks: int, samples: int, embedder: OpenAIEmbedder | None, corpus: str
) -> dict[str, object]:
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    arrived: dict[str, float] = {}
    signals: dict[str, asyncio.Event] = {}

    def respond(request: ChatRequest) -> str:
        # The marker is in the customer's text: note when its request reached the "model".
        for word in request.text.split():
            marker = word.strip(".?,")
            if marker in signals and marker not in arrived:
                arrived[marker] = time.perf_counter()
                loop.call_soon_threadsafe(signals[marker].set)
        return json.dumps(
            {
                "reply": "ok",
                "cited_chunk_ids": [],
                "confidence": 0.1,
                "handoff": False,
                "handoff_reason": None,
            }
        )

    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_fake_openai(FakeOpenAI(api_key="k", responder=respond)) as model,
    ):
        folder = Path(tmp)
        kb = await KnowledgeBase.open(folder / "kb", embedder=embedder)
        await kb.add_faqs(_faqs(corpus, rng, chunks))
        await kb.wait_idle()
        store = await Store.open(folder / "inbox.db")
        client = RelayClient("http://127.0.0.1:9")
        settings = msgspec.structs.replace(
            AppSettings(),
            settle_s=0.0,
            ai=AIConfig(base_url=model.base_url, api_key="k", max_retries=0),
        )
        drafter = LLMDrafter(settings.ai)
        assistant = Assistant(
            store, kb, Outbox(store, client), settings=lambda: settings, drafter=lambda: drafter
        )
        assistant.start()
        started: dict[str, float] = {}
        timeouts = 0
        try:
            for i in range(samples + 5):  # the first few warm caches up
                marker = f"q-{i}"
                text = f"{' '.join(rng.choices(WORDS, k=6))} {marker}?"
                event = MessageReceived(
                    channel_id="c1",
                    platform="messenger",
                    customer=Customer(id=f"psid-{i % 50}", name="Klient"),
                    timestamp_ms=time.time_ns() // 1_000_000,
                    platform_id=f"m-{i}",
                    text=text,
                )
                frame = EventFrame(
                    seq=i + 1, id=uuid.uuid4().hex, stored_at_ms=event.timestamp_ms, event=event
                )
                signals[marker] = asyncio.Event()
                started[marker] = time.perf_counter()
                await store.apply_events([frame])
                try:
                    await asyncio.wait_for(signals[marker].wait(), TIMEOUT_S)
                except TimeoutError:
                    timeouts += 1 if i >= 5 else 0
                await assistant.idle()
        finally:
            await assistant.stop()
            await drafter.aclose()
            await client.aclose()
            await store.close()
            await kb.close()
    times = sorted(
        (arrived[m] - started[m] if m in arrived else TIMEOUT_S) * 1000 for m in list(started)[5:]
    )
    return {
        "bench": "draft_overhead",
        "search": "fts" if embedder is None else "hybrid",
        "corpus": corpus,
        "chunks": chunks,
        "samples": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "timeouts": timeouts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 chunks, 40 samples")
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--search", choices=["hybrid", "fts"], default="hybrid")
    parser.add_argument("--corpus", choices=["shop", "dense"], default="shop")
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.samples = 1000, 40
    figures = asyncio.run(run(args.chunks, args.samples, args.search, args.corpus))
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
