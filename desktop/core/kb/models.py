"""What the knowledge base holds and what a search returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

__all__ = [
    "CrawlLimits",
    "FaqInput",
    "ImportPhase",
    "ImportReport",
    "ImportResult",
    "ItemInfo",
    "ItemType",
    "PendingChange",
    "Progress",
    "SearchHit",
    "SearchMode",
]

ItemType = Literal["offer", "faq", "document", "web"]

SearchMode = Literal["auto", "fts", "vector", "hybrid"]
"""``auto``: hybrid when an embedder is configured and the vectors are current, else FTS."""

ImportPhase = Literal["robots", "sitemap", "crawl", "parse", "embed", "store", "resync", "done"]


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """One retrieved chunk, with enough context to cite it and show its source.

    ``chunk_id`` is stable for as long as the item's text is unchanged; the drafter's
    citations refer to it. ``score`` is only comparable within one search.
    """

    chunk_id: str
    item_id: str
    item_type: ItemType
    title: str
    text: str
    heading_path: tuple[str, ...] = ()
    source: str = ""
    page: int | None = None
    score: float = 0.0
    #: A FAQ's other phrasings of its question ("also asked as") and its tags.
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class FaqInput(msgspec.Struct, frozen=True, kw_only=True):
    """One FAQ for a bulk import; ``tags`` are extra keywords searched as their own field."""

    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    item_id: str | None = None


class ItemInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An item as the owner sees it in a list; type-specific fields are empty for other types.

    ``text`` is the FAQ answer or the offer description (documents and web pages keep
    their text only in chunks). ``source`` is the file path or URL of imported items.
    """

    item_id: str
    item_type: ItemType
    title: str
    text: str = ""
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    price: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    source: str = ""
    chunks: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """How far a long operation is; ``total`` is None while still unknown (crawls)."""

    done: int
    total: int | None
    current: str
    phase: ImportPhase


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one source (file or URL): stored, unchanged, skipped or failed."""

    source: str
    ok: bool
    message: str
    item_id: str | None = None
    chunks: int = 0


class ImportReport(msgspec.Struct, kw_only=True):
    """Per-source results of an import; ``cancelled`` when the caller stopped it early."""

    items: list[ImportResult] = msgspec.field(default_factory=list)
    cancelled: bool = False

    @property
    def ok_count(self) -> int:
        return sum(1 for r in self.items if r.ok)

    @property
    def failed(self) -> list[ImportResult]:
        return [r for r in self.items if not r.ok]


class CrawlLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds of one website import; the defaults suit a small shop's site."""

    max_pages: int = 200
    max_depth: int = 4
    concurrency: int = 4
    timeout_s: float = 15.0
    """Per request, including reading the body."""
    max_redirects: int = 5
    max_bytes: int = 3_000_000
    """Bigger pages are skipped with a message rather than truncated."""
    user_agent: str = "ClientoraBot/0.1 (+https://clientora.app/bot)"
    follow_sitemaps: bool = True


class PendingChange(msgspec.Struct, frozen=True, kw_only=True):
    """A re-synced web page whose text changed, waiting for the owner's review.

    Until it is accepted the assistant keeps answering from ``old_text``."""

    item_id: str
    source: str
    title: str
    old_text: str
    new_text: str
    detected_at: datetime
