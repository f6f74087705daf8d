"""Items to chunk rows: what each kind of item stores and how it is searched."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date

import msgspec

from .analysis import analyze
from .catalog import ItemRecord
from .chunking import ChunkDraft
from .language import STEMMERS, detect_language
from .models import FaqInput, SearchHit
from .store import NO_END, ChunkRow
from .text import normalize_for_search

PAYLOAD = msgspec.json.Decoder(SearchHit)

__all__ = [
    "ANALYSIS_VERSION",
    "chunk_rows",
    "embedding_text",
    "faq_record",
    "offer_record",
    "offer_text",
    "reanalysed",
    "sample_of",
    "search_fields",
]


def faq_record(faq: FaqInput) -> ItemRecord:
    """A FAQ's catalog record; a new random id unless the input names one."""
    question, answer = faq.question.strip(), faq.answer.strip()
    if not question or not answer:
        raise ValueError("a FAQ needs both a question and an answer")
    return ItemRecord(
        item_id=faq.item_id or uuid.uuid4().hex,
        item_type="faq",
        title=question,
        body=answer,
        alternatives=tuple(a.strip() for a in faq.alternatives if a.strip()),
        tags=tuple(t.strip() for t in faq.tags if t.strip()),
        sample=sample_of(question, answer),
    )


def offer_record(
    item_id: str,
    title: str,
    description: str,
    price: str | None,
    valid_from: date | None,
    valid_until: date | None,
) -> ItemRecord:
    """An offer's catalog record, checked: it needs a title and must not end before it starts."""
    title, description = title.strip(), description.strip()
    if not title:
        raise ValueError("an offer needs a title")
    if valid_from and valid_until and valid_from > valid_until:
        raise ValueError("an offer cannot end before it starts")
    return ItemRecord(
        item_id=item_id,
        item_type="offer",
        title=title,
        body=description,
        price=(price or "").strip() or None,
        valid_from=valid_from,
        valid_until=valid_until,
        sample=sample_of(title, description),
    )


def offer_text(
    description: str, price: str | None, valid_from: date | None, valid_until: date | None
) -> str:
    """The text a drafter sees for an offer: the description plus its price and dates."""
    lines = [description.strip()]
    if price:
        lines.append(f"Price: {price}")
    if valid_from and valid_until:
        lines.append(f"Valid: {valid_from.isoformat()} to {valid_until.isoformat()}")
    elif valid_until:
        lines.append(f"Valid until: {valid_until.isoformat()}")
    elif valid_from:
        lines.append(f"Valid from: {valid_from.isoformat()}")
    return "\n".join(line for line in lines if line)


def sample_of(*texts: str) -> str:
    """A short sample kept in the catalog for language detection."""
    return " ".join(t for t in texts if t)[:1500]


def _chunk_id(item_id: str, parts: Sequence[object], used: set[str]) -> str:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()
    chunk_id = f"{item_id}#{digest}"
    n = 2
    while chunk_id in used:  # identical chunks in one item (a repeated disclaimer)
        chunk_id = f"{item_id}#{digest}-{n}"
        n += 1
    used.add(chunk_id)
    return chunk_id


def chunk_rows(record: ItemRecord, drafts: Sequence[ChunkDraft] = ()) -> list[ChunkRow]:
    """Chunk rows for an item: FAQs and offers are one chunk each, documents and pages many.

    FAQ: title field = question + alternative phrasings, tags field = tags, and the "all"
    field adds the answer. Documents and pages: title field = title + heading path.
    """
    valid_from = record.valid_from.toordinal() if record.valid_from else 0
    valid_until = record.valid_until.toordinal() if record.valid_until else NO_END
    tags = " ".join(record.tags)
    used: set[str] = set()
    pieces: list[tuple[str, Sequence[str], str, tuple[str, ...], int | None]]
    if record.item_type == "faq":
        pieces = [(record.title, list(record.alternatives), record.body, (), None)]
    elif record.item_type == "offer":
        text = offer_text(record.body, record.price, record.valid_from, record.valid_until)
        pieces = [(record.title, [], text, (), None)]
    else:
        pieces = [(record.title, [], d.text, d.heading_path, d.page) for d in drafts]
    rows = []
    loose = loose_body(record)
    for title, alternatives, text, heading_path, page in pieces:
        title_field = "\n".join([title, *heading_path, *alternatives])
        f_title, f_tags, f_all = search_fields(title_field, tags, text, loose=loose)
        chunk_id = _chunk_id(record.item_id, (title_field, text, tags, page), used)
        hit = SearchHit(
            chunk_id=chunk_id,
            item_id=record.item_id,
            item_type=record.item_type,
            title=title,
            text=text,
            heading_path=tuple(heading_path),
            source=record.source,
            page=page,
            alternatives=tuple(alternatives),
            tags=record.tags if record.item_type == "faq" else (),
        )
        rows.append(
            ChunkRow(
                chunk_id=chunk_id,
                item_id=record.item_id,
                item_type=record.item_type,
                valid_from=valid_from,
                valid_until=valid_until,
                f_title=f_title,
                f_tags=f_tags,
                f_all=f_all,
                payload=msgspec.json.encode(hit).decode(),
            )
        )
    return rows


#: Version of the text analysis the ``f_*`` fields were written with; a base written with
#: another is re-analysed when it opens (``KnowledgeBase``).
ANALYSIS_VERSION = "3"


def loose_body(record: ItemRecord) -> bool:
    """Whether the item's body gets loose (stem-prefix) forms: they serve languages Lance
    cannot stem; in a body written in one it can (English, Italian...) they only blur BM25
    (measured: StackFAQ MRR -0.01)."""
    return detect_language([record.title, record.body, record.sample]) not in STEMMERS


def search_fields(title_field: str, tags: str, text: str, *, loose: bool) -> tuple[str, str, str]:
    """The analysed ``f_title``, ``f_tags`` and ``f_all`` of one chunk."""
    f_title = analyze(title_field)
    f_tags = analyze(tags)
    f_all = "\n".join(x for x in (f_title, f_tags, analyze(text, loose_forms=loose)) if x)
    return f_title, f_tags, f_all


def reanalysed(payload: str, record: ItemRecord | None) -> tuple[str, str, str]:
    """A stored chunk's search fields written again from its payload and its item."""
    hit = PAYLOAD.decode(payload)
    alternatives = record.alternatives if record is not None else hit.alternatives
    tags = " ".join(record.tags if record is not None else hit.tags)
    title_field = "\n".join([hit.title, *hit.heading_path, *alternatives])
    loose = loose_body(record) if record is not None else True
    return search_fields(title_field, tags, hit.text, loose=loose)


def embedding_text(payload: str) -> str:
    """What is embedded for a chunk, from its stored payload: its title, headings and text
    as written (the ``f_*`` fields hold the analysed forms, which suit BM25, not a model)."""
    hit = PAYLOAD.decode(payload)
    return normalize_for_search("\n".join(x for x in (hit.title, *hit.heading_path, hit.text) if x))
