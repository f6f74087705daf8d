"""Imports from outside: files and folders, websites, and re-syncing known web pages."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from .cancel import finished_before_cancel
from .catalog import ItemRecord
from .chunking import ChunkDraft, ParsedDocument, chunk_blocks
from .crawler import Fetched, Fetcher, FetchError, crawl
from .documents import SUPPORTED_SUFFIXES, parse_file
from .errors import DocumentError, EmbeddingError
from .html import HtmlPage
from .items import sample_of
from .models import CrawlLimits, ImportReport, ImportResult, ItemType, Progress
from .text import fingerprint, hamming, simhash

__all__ = [
    "ItemSink",
    "import_files",
    "import_site",
    "replace_document",
    "resync_sites",
    "site_of",
]

log = logging.getLogger(__name__)

NEAR_DUPLICATE_BITS = 3  # simhash bits two pages may differ in and still be "the same page"
ProgressFn = Callable[[Progress], None] | None


class ItemSink(Protocol):
    """What importing needs from the knowledge base (``KnowledgeBase`` is one)."""

    async def item_by_source(self, source: str) -> ItemRecord | None:
        """The item imported from this path or URL, if any."""
        ...

    async def items_of_type(self, item_type: ItemType) -> list[ItemRecord]: ...

    async def put_item(self, record: ItemRecord, drafts: Sequence[ChunkDraft]) -> int:
        """Store an item with its chunks (replacing an earlier version); the chunk count."""
        ...

    async def delete_item(self, item_id: str) -> bool: ...

    async def hold_for_review(self, record: ItemRecord, drafts: Sequence[ChunkDraft]) -> bool:
        """Keep a changed page's new version for the owner's review unless its site
        auto-accepts; True when held (the stored version stays what search uses)."""
        ...

    async def discard_change(self, item_id: str) -> None:
        """Forget a held change: the page is back to the stored text."""
        ...


def site_of(url: str) -> str:
    """The site a page belongs to, as ``scheme://host/`` (per-site settings are keyed so)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}/"


def _unchanged_message(record: ItemRecord, print_: str) -> str | None:
    if print_ == record.fingerprint:
        return "unchanged"
    if print_ == record.extra.get("declined"):
        return "unchanged (you declined this change)"
    return None


def _stable_id(prefix: str, source: str) -> str:
    return f"{prefix}-{hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()[:16]}"


def _parse_and_chunk(path: Path) -> tuple[ParsedDocument, list[ChunkDraft]]:
    parsed = parse_file(path)
    return parsed, chunk_blocks(parsed.blocks)


def _files(path: Path) -> tuple[bool, list[Path]]:
    """Whether ``path`` exists; the file itself, or the importable files in a folder."""
    if not path.exists():
        return False, []
    if not path.is_dir():
        return True, [path.resolve()]
    return True, sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


async def import_files(
    kb: ItemSink, path: Path, *, progress: ProgressFn, cancel: asyncio.Event | None
) -> ImportReport:
    report = ImportReport()
    exists, files = await asyncio.to_thread(_files, path)
    if not files:
        message = "no importable files in the folder" if exists else "no such file"
        report.items.append(ImportResult(source=str(path), ok=False, message=message))
        return report
    for done, file in enumerate(files):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        if progress is not None:
            progress(Progress(done=done, total=len(files), current=str(file), phase="parse"))
        result = await _import_one(kb, file, cancel)
        if result is None:
            report.cancelled = True
            break
        report.items.append(result)
    if progress is not None:
        progress(Progress(done=len(report.items), total=len(files), current="", phase="done"))
    return report


async def replace_document(kb: ItemSink, record: ItemRecord, path: Path) -> ImportResult:
    """Read ``path`` into the document ``record`` in place of its file: same item (and
    name, when the owner gave one), new text; citations of the old text stop resolving."""
    exists, files = await asyncio.to_thread(_files, path)
    if not exists or not files or await asyncio.to_thread(path.is_dir):
        message = "no such file" if not exists else "choose one file, not a folder"
        return ImportResult(source=str(path), ok=False, message=message)
    other = await kb.item_by_source(str(files[0]))
    if other is not None and other.item_id != record.item_id:
        message = f"this file is already imported as “{other.title}”"
        return ImportResult(source=str(path), ok=False, message=message)
    result = await _import_one(kb, files[0], None, replacing=record)
    assert result is not None  # no cancel event: never cancelled
    return result


async def _import_one(
    kb: ItemSink, path: Path, cancel: asyncio.Event | None, *, replacing: ItemRecord | None = None
) -> ImportResult | None:
    source = str(path)
    # Parsing is CPU work (a 500-page PDF takes seconds): a thread keeps the loop free, and
    # a cancel stops waiting for it at once (the thread's result is dropped).
    task = asyncio.ensure_future(asyncio.to_thread(_parse_and_chunk, path))
    if not await finished_before_cancel(task, cancel):
        return None
    try:
        parsed, drafts = task.result()
    except DocumentError as exc:
        return ImportResult(source=source, ok=False, message=str(exc))
    except Exception as exc:
        log.exception("importing %s failed", path)
        return ImportResult(source=source, ok=False, message=f"could not read the file: {exc}")
    print_ = fingerprint("\n".join([parsed.title, *(d.text for d in drafts)]))
    existing = replacing or await kb.item_by_source(source)
    if existing is not None and existing.fingerprint == print_ and existing.source == source:
        return ImportResult(
            source=source,
            ok=True,
            message="unchanged",
            item_id=existing.item_id,
            chunks=existing.chunks,
        )
    # A name the owner gave (rename) outlives re-imports; the file's own title does not.
    named = existing.extra.get("name", "") if existing else ""
    extra = {"pages": str(parsed.pages)} if parsed.pages else {}
    if named:
        extra["name"] = named
    record = ItemRecord(
        item_id=existing.item_id if existing else _stable_id("doc", source),
        item_type="document",
        title=named or parsed.title,
        source=source,
        fingerprint=print_,
        extra=extra,
        sample=sample_of(parsed.title, *(d.text for d in drafts[:3])),
    )
    try:
        chunks = await kb.put_item(record, drafts)
    except EmbeddingError as exc:
        return ImportResult(source=source, ok=False, message=f"not imported: {exc}")
    pages = f" from {parsed.pages} pages" if parsed.pages else ""
    verb = "updated" if existing else "imported"
    return ImportResult(
        source=source,
        ok=True,
        message=f"{verb}: {chunks} chunks{pages}",
        item_id=record.item_id,
        chunks=chunks,
    )


def _client(http: httpx.AsyncClient | None, limits: CrawlLimits) -> httpx.AsyncClient:
    if http is not None:
        return http
    pool = httpx.Limits(max_connections=limits.concurrency * 2)
    return httpx.AsyncClient(limits=pool, timeout=limits.timeout_s)


def _page_record(existing: ItemRecord | None, fetched: Fetched, page: HtmlPage) -> ItemRecord:
    return ItemRecord(
        item_id=existing.item_id if existing else _stable_id("web", fetched.url),
        item_type="web",
        title=page.title or fetched.url,
        source=fetched.url,
        fingerprint=fingerprint(page.title + "\n" + page.text),
        extra={
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "simhash": f"{simhash(page.text):016x}",
        },
        sample=sample_of(page.title, page.text[:1500]),
    )


async def _store_page(
    kb: ItemSink, existing: ItemRecord | None, fetched: Fetched, page: HtmlPage, source: str
) -> ImportResult:
    record = _page_record(existing, fetched, page)
    drafts = await asyncio.to_thread(chunk_blocks, page.blocks)
    if not drafts:
        return ImportResult(source=source, ok=False, message="skipped: no text on the page")
    if existing is not None and await kb.hold_for_review(record, drafts):
        return ImportResult(
            source=source,
            ok=True,
            message="changed: waiting for your review",
            item_id=existing.item_id,
            chunks=existing.chunks,
        )
    try:
        chunks = await kb.put_item(record, drafts)
    except EmbeddingError as exc:
        return ImportResult(source=source, ok=False, message=f"not imported: {exc}")
    verb = "updated" if existing else "imported"
    return ImportResult(
        source=source,
        ok=True,
        message=f"{verb}: {chunks} chunks",
        item_id=record.item_id,
        chunks=chunks,
    )


async def import_site(
    kb: ItemSink,
    url: str,
    *,
    limits: CrawlLimits,
    progress: ProgressFn,
    cancel: asyncio.Event | None,
    http: httpx.AsyncClient | None,
) -> ImportReport:
    # Simhashes of pages already in the base and stored in this crawl: a page that nearly
    # equals one at another URL (print views, ?ref= variants, /index.html) is skipped.
    known = [
        (int(r.extra["simhash"], 16), r.source)
        for r in await kb.items_of_type("web")
        if r.extra.get("simhash")
    ]

    async def on_page(requested: str, fetched: Fetched) -> ImportResult:
        page = fetched.page
        if page is None:
            return ImportResult(source=requested, ok=False, message="no content")
        if page.noindex:
            return ImportResult(
                source=requested,
                ok=False,
                message="skipped: the page asks not to be indexed (noindex)",
            )
        if not page.text.strip():
            return ImportResult(source=requested, ok=False, message="skipped: no text on the page")
        existing = await kb.item_by_source(fetched.url)
        print_ = fingerprint(page.title + "\n" + page.text)
        same = None if existing is None else _unchanged_message(existing, print_)
        if existing is not None and same is not None:
            await kb.discard_change(existing.item_id)
            return ImportResult(
                source=requested,
                ok=True,
                message=same,
                item_id=existing.item_id,
                chunks=existing.chunks,
            )
        hashed = simhash(page.text)
        duplicate = next(
            (
                src
                for h, src in known
                if src != fetched.url and hamming(h, hashed) <= NEAR_DUPLICATE_BITS
            ),
            None,
        )
        if duplicate is not None:
            return ImportResult(
                source=requested, ok=False, message=f"skipped: same content as {duplicate}"
            )
        known.append((hashed, fetched.url))
        return await _store_page(kb, existing, fetched, page, requested)

    client = _client(http, limits)
    try:
        results, cancelled = await crawl(
            url, client=client, limits=limits, on_page=on_page, progress=progress, cancel=cancel
        )
    finally:
        if http is None:
            await client.aclose()
    return ImportReport(items=results, cancelled=cancelled)


async def resync_sites(
    kb: ItemSink,
    *,
    limits: CrawlLimits,
    progress: ProgressFn,
    cancel: asyncio.Event | None,
    http: httpx.AsyncClient | None,
) -> ImportReport:
    records = await kb.items_of_type("web")
    client = _client(http, limits)
    fetchers: dict[str, Fetcher] = {}
    origin_locks: dict[str, asyncio.Lock] = {}
    limit = asyncio.Semaphore(max(1, limits.concurrency))
    results: list[ImportResult] = []
    cancelled = False

    async def fetcher_for(url: str) -> Fetcher:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}/"
        async with origin_locks.setdefault(origin, asyncio.Lock()):
            if origin not in fetchers:
                fetcher = Fetcher(client, limits)
                await fetcher.load_robots(origin)
                fetchers[origin] = fetcher
        return fetchers[origin]

    async def one(record: ItemRecord) -> ImportResult | None:
        nonlocal cancelled
        source = record.source

        def kept(ok: bool, message: str) -> ImportResult:
            return ImportResult(
                source=source, ok=ok, message=message, item_id=record.item_id, chunks=record.chunks
            )

        async with limit:
            if cancel is not None and cancel.is_set():
                cancelled = True
                return None
            fetcher = await fetcher_for(source)
            if fetcher.robots_problem or not fetcher.allowed(source):
                return kept(False, "blocked by robots.txt; kept the stored copy")
            validators = {
                "etag": record.extra.get("etag", ""),
                "last_modified": record.extra.get("last_modified", ""),
            }
            task = asyncio.ensure_future(fetcher.page(source, **validators))
            if not await finished_before_cancel(task, cancel):
                cancelled = True
                return None
        try:
            fetched = task.result()
        except FetchError as exc:
            if exc.status in (404, 410):
                await kb.delete_item(record.item_id)
                message = f"removed: the page is gone (HTTP {exc.status})"
                return ImportResult(source=source, ok=True, message=message, item_id=record.item_id)
            return kept(False, f"{exc}; kept the stored copy")
        page = fetched.page
        if page is None:
            # 304 answers the stored version's validators: the page is as stored.
            await kb.discard_change(record.item_id)
            return kept(True, "unchanged (not modified)")
        same = _unchanged_message(record, fingerprint(page.title + "\n" + page.text))
        if same is not None:
            await kb.discard_change(record.item_id)
            return kept(True, same)
        return await _store_page(kb, record, fetched, page, source)

    async def tracked(record: ItemRecord) -> None:
        try:
            result = await one(record)
        except Exception as exc:  # one page must not stop the others
            log.exception("re-syncing %s failed", record.source)
            result = ImportResult(source=record.source, ok=False, message=f"failed: {exc}")
        if result is not None:
            results.append(result)
            if progress is not None:
                progress(
                    Progress(
                        done=len(results), total=len(records), current=record.source, phase="resync"
                    )
                )

    try:
        await asyncio.gather(*(tracked(r) for r in records))
    finally:
        if http is None:
            await client.aclose()
    return ImportReport(items=results, cancelled=cancelled)
