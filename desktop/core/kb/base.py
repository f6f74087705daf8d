"""The knowledge base: items in, chunks kept in step, hybrid search out (plain asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import httpx
import numpy as np
import pyarrow as pa

from .catalog import Catalog, HeldChange, ItemRecord
from .chunking import ChunkDraft
from .embeddings import Embedder
from .errors import EmbeddingError, ItemNotFoundError, KnowledgeBaseError
from .items import (
    ANALYSIS_VERSION,
    chunk_rows,
    embedding_text,
    faq_record,
    offer_record,
    reanalysed,
)
from .language import Analyzer, analyzer_for, detect_language
from .models import (
    CrawlLimits,
    FaqInput,
    ImportReport,
    ImportResult,
    ItemInfo,
    ItemType,
    PendingChange,
    Progress,
    SearchHit,
    SearchMode,
)
from .search import PAYLOAD_DECODER, SearchPlan, run_search
from .sources import import_files, import_site, replace_document, resync_sites, site_of
from .store import FTS_FIELDS, VECTOR_INDEX_MIN_ROWS, ChunkRow, ChunkStore
from .text import query_expansion, sanitize_query

__all__ = ["UNSET", "KnowledgeBase"]

log = logging.getLogger(__name__)

BULK_BATCH = 2000
OPTIMIZE_AFTER_WRITES = 50  # versions before compaction and cleanup
MAINTENANCE_DELAY_S = 1.0  # let a burst of writes finish before indexing
INLINE_REINDEX_MAX_ROWS = 20_000  # above this an analyser change is applied in the background


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Marks an ``update_offer`` argument as "leave as it is" (None clears a field)."""


def _readable(sections: Iterable[tuple[Sequence[str], str]]) -> str:
    """A page's sections as the owner reads them: each under its heading path."""
    return "\n\n".join(f"{' › '.join(path)}\n{text}" if path else text for path, text in sections)


def _now() -> datetime:
    return datetime.now(UTC)


class KnowledgeBase:
    """A shop's knowledge base in one folder: ``lance/`` (chunks) and ``items.sqlite3`` (items).

    Create with ``await KnowledgeBase.open(path)``; close with ``await kb.close()``. Writes
    are serialised by one lock; searches run alongside them. Index upkeep (folding new rows
    into the FTS indexes, the IVF_PQ vector index past 10k rows) runs in a background task.
    """

    def __init__(
        self,
        path: Path,
        store: ChunkStore,
        catalog: Catalog,
        embedder: Embedder | None,
        language: str,
    ) -> None:
        self.path = path
        self.embedder = embedder
        self._store = store
        self._catalog = catalog
        self._language = language.lower()
        self._lock = asyncio.Lock()
        self._closed = False
        self._dated: bool | None = None
        self._tagged: bool | None = None
        self._detected_at = 0
        self._writes = 0
        self._analyzer = analyzer_for("und")
        self._analyzer_pending: Analyzer | None = None
        self._vectors_ready = False
        self._maintenance: asyncio.Task[None] | None = None
        self._again = False
        self._wake = asyncio.Event()

    # ---- lifecycle ------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, path: Path, *, embedder: Embedder | None = None, language: str = "auto"
    ) -> KnowledgeBase:
        """Open (or create) the base in folder ``path``.

        ``language``: "auto" judges the dominant language of the items and picks the
        stemmer (none for Albanian and Serbian); an ISO code ("it", "en", "sq") fixes it.
        With an ``embedder`` chunks get vectors and search is hybrid.
        """
        await asyncio.to_thread(path.mkdir, parents=True, exist_ok=True)
        catalog = await Catalog.open(path / "items.sqlite3")
        try:
            store = await ChunkStore.open(
                path / "lance", dims=embedder.dims if embedder else None, copy=catalog
            )
        except BaseException:
            await catalog.close()
            raise
        kb = cls(path, store, catalog, embedder, language)
        try:
            await kb._start()
        except BaseException:
            await kb.close()
            raise
        return kb

    async def _start(self) -> None:
        # Orphan chunks are what a crash between the LanceDB and the SQLite write leaves.
        orphans = await self._store.item_ids() - await self._catalog.all_ids()
        if orphans:
            log.warning("removing chunks of %d items missing from the catalog", len(orphans))
            await self._store.delete_items(sorted(orphans))
        await self._configure_vectors()
        if await self._catalog.get_meta("analysis") != ANALYSIS_VERSION:
            await self._reanalyse()
        self._analyzer = await self._wanted_analyzer(force_detect=True)
        if (
            not await self._store.has_fts()
            or await self._catalog.get_meta("fts") != self._analyzer.key
        ):
            await self._rebuild_fts(self._analyzer)

    async def _reanalyse(self) -> None:
        """Write every chunk's search fields again after the text analysis changed."""
        data = await self._store.table.query().to_arrow()
        if data.num_rows:
            records = {r.item_id: r for r in await self._catalog.records()}
            fields = [
                reanalysed(payload, records.get(item_id))
                for payload, item_id in zip(
                    data.column("payload").to_pylist(),
                    data.column("item_id").to_pylist(),
                    strict=True,
                )
            ]
            for index, name in enumerate(("f_title", "f_tags", "f_all")):
                position = data.column_names.index(name)
                data = data.set_column(position, name, pa.array([f[index] for f in fields]))
            await self._store.recreate(self._store.dims, data)
            await self._catalog.set_meta("fts", "")  # the indexes are built again below
        await self._catalog.set_meta("analysis", ANALYSIS_VERSION)

    async def close(self) -> None:
        """Stop background work, fold pending rows into the indexes, release files."""
        if self._closed:
            return
        self._closed = True
        task, self._maintenance = self._maintenance, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if self._writes:
                async with self._lock:
                    await self._store.optimize()
        except Exception:
            log.exception("final optimize failed")
        finally:
            self._store.close()
            await self._catalog.close()

    def _check_open(self) -> None:
        if self._closed:
            raise KnowledgeBaseError("the knowledge base is closed")

    @property
    def language(self) -> str:
        """The language the full-text analyser is set up for ("und": none detected)."""
        return self._analyzer.language

    @property
    def vectors_ready(self) -> bool:
        """True when an embedder is set and every chunk's vector came from it."""
        return self._vectors_ready

    # ---- vectors --------------------------------------------------------------------------

    def _model_id(self) -> str:
        assert self.embedder is not None
        name = getattr(self.embedder, "model", type(self.embedder).__name__)
        return f"{name}:{self.embedder.dims}"

    async def _configure_vectors(self) -> None:
        if self.embedder is None:
            self._vectors_ready = False
            return
        empty = await self._store.count() == 0
        if self._store.dims != self.embedder.dims and empty:
            await self._store.recreate(self.embedder.dims)
            await self._catalog.set_meta("fts", "")
        if empty:
            await self._catalog.set_meta("vectors", self._model_id())
        self._vectors_ready = (
            self._store.dims == self.embedder.dims
            and await self._catalog.get_meta("vectors") == self._model_id()
        )
        if not self._vectors_ready:
            log.warning("stored vectors do not match %s; call reembed()", self._model_id())

    async def _vectors_for(self, rows: Sequence[ChunkRow]) -> np.ndarray | None:
        if not self._vectors_ready or not rows:
            return None
        assert self.embedder is not None
        vectors = await self.embedder.embed([embedding_text(r.payload) for r in rows])
        array = np.asarray(vectors, dtype=np.float32)
        if array.shape != (len(rows), self.embedder.dims):
            raise EmbeddingError(
                f"the embedding model returned vectors of shape {array.shape}; "
                f"expected {(len(rows), self.embedder.dims)}"
            )
        return array

    async def reembed(
        self,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
        batch: int = 1024,
    ) -> int:
        """Recompute every chunk's vector with the current embedder (after a model change).

        The table is replaced in one step at the end; cancelling leaves it as it was.
        Returns the number of chunks embedded (0 when cancelled).
        """
        self._check_open()
        if self.embedder is None:
            raise KnowledgeBaseError("reembed() needs an embedding model")
        async with self._lock:
            data = await self._store.table.query().to_arrow()
            texts = [embedding_text(p) for p in data.column("payload").to_pylist()]
            parts: list[np.ndarray] = []
            for start in range(0, len(texts), batch):
                if cancel is not None and cancel.is_set():
                    return 0
                if progress is not None:
                    progress(Progress(done=start, total=len(texts), current="", phase="embed"))
                vectors = await self.embedder.embed(texts[start : start + batch])
                parts.append(np.asarray(vectors, dtype=np.float32).reshape(-1, self.embedder.dims))
            matrix = np.concatenate(parts) if parts else np.zeros((0, self.embedder.dims), "f4")
            flat = pa.array(matrix.reshape(-1))
            column = pa.FixedSizeListArray.from_arrays(flat, self.embedder.dims)
            if "vector" in data.column_names:
                data = data.drop_columns(["vector"])
            await self._store.recreate(self.embedder.dims, data.append_column("vector", column))
            await self._rebuild_fts(self._analyzer)
            await self._catalog.set_meta("vectors", self._model_id())
            self._vectors_ready = True
        self._schedule_maintenance()
        return len(texts)

    # ---- language and indexes -------------------------------------------------------------

    async def _wanted_analyzer(self, *, force_detect: bool = False) -> Analyzer:
        if self._language != "auto":
            return analyzer_for(self._language)
        count = await self._catalog.count()
        if not force_detect and count < max(1, 2 * self._detected_at):
            return self._analyzer  # judge again only when the base has doubled
        self._detected_at = count
        return analyzer_for(detect_language(await self._catalog.samples()))

    async def _rebuild_fts(self, analyzer: Analyzer) -> None:
        await self._store.build_fts(analyzer)
        await self._catalog.set_meta("fts", analyzer.key)
        self._analyzer = analyzer

    async def _after_write(self, *, schedule: bool = True) -> None:
        """Bookkeeping after any write (call holding the write lock)."""
        self._dated = self._tagged = None
        self._writes += 1
        analyzer = await self._wanted_analyzer()
        if analyzer.key != self._analyzer.key:
            if await self._store.count() <= INLINE_REINDEX_MAX_ROWS:
                await self._rebuild_fts(analyzer)
            else:
                self._analyzer_pending = analyzer
        if schedule:
            self._schedule_maintenance()

    def _schedule_maintenance(self) -> None:
        if self._closed:
            return
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain())
        else:
            self._again = True

    async def _maintain(self) -> None:
        while True:
            self._again = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), MAINTENANCE_DELAY_S)
            try:
                await self._maintain_once()
            except Exception:
                log.exception("knowledge-base index upkeep failed; will retry after next write")
            if not self._again:
                return

    async def _maintain_once(self) -> None:
        pending, self._analyzer_pending = self._analyzer_pending, None
        if pending is not None and pending.key != self._analyzer.key:
            async with self._lock:
                await self._rebuild_fts(pending)
        # Unindexed rows are searched by a scan that costs ~50 us per row and query, so
        # every quiet moment folds them into the indexes (about 0.5 s at 100k chunks).
        if await self._store.unindexed_rows() or self._writes >= OPTIMIZE_AFTER_WRITES:
            async with self._lock:
                await self._store.optimize()
                self._writes = 0
        if (
            self._vectors_ready
            and not await self._store.has_vector_index()
            and await self._store.count("vector IS NOT NULL") >= VECTOR_INDEX_MIN_ROWS
        ):
            # Not under the write lock: training takes minutes at 100k rows; rows added
            # meanwhile stay unindexed (searched exactly) until the next optimize.
            await self._store.build_vector_index()

    async def wait_idle(self) -> None:
        """Run pending index upkeep now and wait for it (benchmarks, tests, before backup)."""
        self._check_open()
        while self._maintenance is not None and not self._maintenance.done():
            self._wake.set()
            await asyncio.shield(self._maintenance)
        self._wake.clear()

    # ---- writes ---------------------------------------------------------------------------

    async def _put(self, record: ItemRecord, drafts: Sequence[ChunkDraft] = ()) -> int:
        """Store one item and its chunks, replacing any previous version of it."""
        self._check_open()
        rows = chunk_rows(record, drafts)
        vectors = await self._vectors_for(rows)
        async with self._lock:
            self._check_open()
            previous = await self._catalog.get(record.item_id)
            if previous is not None:
                record.created_at = previous.created_at
                await self._store.replace_item(record.item_id, rows, vectors)
            else:
                await self._store.add(rows, vectors)
            if self._store.dims and vectors is None:
                await self._catalog.set_meta("vectors", "")  # rows without vectors: reembed later
                self._vectors_ready = False
            record.chunks = len(rows)
            record.updated_at = _now()
            await self._catalog.put([record])
            await self._after_write()
        return len(rows)

    # ---- what importing needs (sources.ItemSink) ------------------------------------------

    async def item_by_source(self, source: str) -> ItemRecord | None:
        return await self._catalog.by_source(source)

    async def items_of_type(self, item_type: ItemType) -> list[ItemRecord]:
        return await self._catalog.records(item_type)

    async def put_item(self, record: ItemRecord, drafts: Sequence[ChunkDraft]) -> int:
        return await self._put(record, drafts)

    async def hold_for_review(self, record: ItemRecord, drafts: Sequence[ChunkDraft]) -> bool:
        self._check_open()
        if await self.auto_accepts(record.source):
            await self._catalog.release(record.item_id)  # an older held version is moot
            return False
        payloads = await self._store.payloads_of_item(record.item_id)
        change = PendingChange(
            item_id=record.item_id,
            source=record.source,
            title=record.title,
            old_text=_readable(
                (h.heading_path, h.text) for h in map(PAYLOAD_DECODER.decode, payloads)
            ),
            new_text=_readable((d.heading_path, d.text) for d in drafts),
            detected_at=_now(),
        )
        await self._catalog.hold(HeldChange(record=record, drafts=list(drafts), change=change))
        return True

    async def discard_change(self, item_id: str) -> None:
        await self._catalog.release(item_id)

    # ---- changes to review (re-synced pages whose text changed) ---------------------------

    async def pending_changes(self) -> list[PendingChange]:
        """Changed pages waiting for review, oldest first; search still uses the old text."""
        self._check_open()
        return [h.change for h in await self._catalog.held()]

    async def accept_change(self, item_id: str) -> bool:
        """Put a reviewed page's new text in use; False when no change was waiting."""
        self._check_open()
        held = await self._catalog.held(item_id)
        if not held:
            return False
        if await self._catalog.get(item_id) is not None:
            await self._put(held[0].record, held[0].drafts)
        await self._catalog.release(item_id)
        return True

    async def reject_change(self, item_id: str) -> bool:
        """Keep the stored text; the same new text is not offered for review again."""
        self._check_open()
        held = await self._catalog.held(item_id)
        if not held:
            return False
        async with self._lock:
            current = await self._catalog.get(item_id)
            if current is not None:
                current.extra = {**current.extra, "declined": held[0].record.fingerprint}
                await self._catalog.put([current])
            await self._catalog.release(item_id)
        return True

    async def auto_accepts(self, url: str) -> bool:
        """Whether re-synced changes of this page's site go live without review."""
        return await self._catalog.get_meta(f"auto_accept:{site_of(url)}") == "1"

    async def set_auto_accept(self, url: str, on: bool) -> None:
        """Per site (any page address of it): changes go live at once (True) or wait."""
        self._check_open()
        await self._catalog.set_meta(f"auto_accept:{site_of(url)}", "1" if on else "")

    async def add_faq(
        self,
        question: str,
        answer: str,
        alternatives: Sequence[str] = (),
        *,
        tags: Sequence[str] = (),
        item_id: str | None = None,
    ) -> str:
        """Add a FAQ (one chunk: question, alternative phrasings, answer); returns its id.

        An existing ``item_id`` is replaced, so re-importing a list does not duplicate it.
        """
        record = faq_record(
            FaqInput(
                question=question,
                answer=answer,
                alternatives=tuple(alternatives),
                tags=tuple(tags),
                item_id=item_id,
            )
        )
        await self._put(record)
        return record.item_id

    async def add_faqs(
        self, rows: Iterable[FaqInput], *, batch_size: int = BULK_BATCH
    ) -> list[str]:
        """Bulk-add FAQs: one embedding pass and one LanceDB write per batch; returns ids."""
        self._check_open()
        ids: list[str] = []
        batch: dict[str, ItemRecord] = {}
        for faq in rows:
            record = faq_record(faq)
            batch[record.item_id] = record
            ids.append(record.item_id)
            if len(batch) >= batch_size:
                await self._put_many(list(batch.values()))
                batch.clear()
        if batch:
            await self._put_many(list(batch.values()))
        # Index upkeep once at the end, not between batches: optimizing a growing table
        # again and again would slow a 100k import down; new rows are searchable anyway.
        self._schedule_maintenance()
        return ids

    async def _put_many(self, records: list[ItemRecord]) -> None:
        rows = [row for r in records for row in chunk_rows(r)]
        vectors = await self._vectors_for(rows)
        async with self._lock:
            self._check_open()
            existing = await self._catalog.existing([r.item_id for r in records])
            if existing:
                await self._store.delete_items(sorted(existing))
            await self._store.add(rows, vectors)
            if self._store.dims and vectors is None:
                await self._catalog.set_meta("vectors", "")
                self._vectors_ready = False
            for r in records:
                r.chunks = 1
            await self._catalog.put(records)
            await self._after_write(schedule=False)

    async def add_offer(
        self,
        title: str,
        description: str,
        *,
        price: str | None = None,
        valid_from: date | None = None,
        valid_until: date | None = None,
        item_id: str | None = None,
    ) -> str:
        """Add an offer (one chunk); outside ``valid_from``..``valid_until`` it is never found."""
        record = offer_record(
            item_id or uuid.uuid4().hex, title, description, price, valid_from, valid_until
        )
        await self._put(record)
        return record.item_id

    async def _require(self, item_id: str, item_type: ItemType) -> ItemRecord:
        record = await self._catalog.get(item_id)
        if record is None:
            raise ItemNotFoundError(f"no item with id {item_id!r}")
        if record.item_type != item_type:
            raise ValueError(f"item {item_id!r} is a {record.item_type}, not a {item_type}")
        return record

    async def update_faq(
        self,
        item_id: str,
        *,
        question: str | None = None,
        answer: str | None = None,
        alternatives: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> ItemInfo:
        """Change a FAQ; its chunk (and vector) is rewritten in the same step."""
        old = await self._require(item_id, "faq")
        record = faq_record(
            FaqInput(
                question=old.title if question is None else question,
                answer=old.body if answer is None else answer,
                alternatives=old.alternatives if alternatives is None else tuple(alternatives),
                tags=old.tags if tags is None else tuple(tags),
                item_id=item_id,
            )
        )
        await self._put(record)
        return record.info()

    async def update_offer(
        self,
        item_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        price: str | Literal[_Unset.UNSET] | None = UNSET,
        valid_from: date | Literal[_Unset.UNSET] | None = UNSET,
        valid_until: date | Literal[_Unset.UNSET] | None = UNSET,
    ) -> ItemInfo:
        """Change an offer; pass None to clear price or dates, leave out to keep them."""
        old = await self._require(item_id, "offer")
        record = offer_record(
            item_id,
            old.title if title is None else title,
            old.body if description is None else description,
            old.price if price is UNSET else price,
            old.valid_from if valid_from is UNSET else valid_from,
            old.valid_until if valid_until is UNSET else valid_until,
        )
        await self._put(record)
        return record.info()

    async def delete_item(self, item_id: str) -> bool:
        """Remove an item and its chunks; False when there was no such item."""
        self._check_open()
        async with self._lock:
            if await self._catalog.get(item_id) is None:
                return False
            # Catalog first: a crash in between leaves orphan chunks, removed on open.
            await self._catalog.delete([item_id])
            await self._store.delete_items([item_id])
            await self._after_write()
        return True

    async def list_items(self, item_type: ItemType | None = None) -> list[ItemInfo]:
        self._check_open()
        return [r.info() for r in await self._catalog.records(item_type)]

    async def get_item(self, item_id: str) -> ItemInfo | None:
        self._check_open()
        record = await self._catalog.get(item_id)
        return None if record is None else record.info()

    async def rename_document(self, item_id: str, title: str) -> ItemInfo:
        """Give a document the owner's own name; it outlives re-imports of the file.

        The text is unchanged; its chunks are rewritten because the name is searched too."""
        name = " ".join(title.split())
        if not name:
            raise ValueError("a document needs a name")
        record = await self._require(item_id, "document")
        payloads = await self._store.payloads_of_item(item_id)
        hits = [PAYLOAD_DECODER.decode(p) for p in payloads]
        drafts = [ChunkDraft(text=h.text, heading_path=h.heading_path, page=h.page) for h in hits]
        record.title = name
        record.extra = {**record.extra, "name": name}
        await self._put(record, drafts)
        return record.info()

    async def replace_document(self, item_id: str, path: Path) -> ImportResult:
        """Read another file (or a newer copy) into this document: same item, new text."""
        self._check_open()
        record = await self._require(item_id, "document")
        return await replace_document(self, record, path)

    # ---- imports (implemented in sources.py) ----------------------------------------------

    async def import_file(
        self,
        path: Path,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> ImportReport:
        """Import a document (PDF, DOCX, TXT, Markdown, HTML) or every such file in a folder.

        Re-importing the same path updates the item when the content changed. Each file
        gets a result with a clear message; a bad file never affects the rest of the base.
        """
        self._check_open()
        return await import_files(self, path, progress=progress, cancel=cancel)

    async def import_site(
        self,
        url: str,
        *,
        limits: CrawlLimits = CrawlLimits(),  # noqa: B008 - frozen struct, safe as default
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> ImportReport:
        """Crawl a website (sitemaps + same-site links, robots.txt respected) into web items."""
        self._check_open()
        return await import_site(
            self, url, limits=limits, progress=progress, cancel=cancel, http=http
        )

    async def resync_sites(
        self,
        *,
        limits: CrawlLimits = CrawlLimits(),  # noqa: B008 - frozen struct, safe as default
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> ImportReport:
        """Re-fetch every known page; only pages whose content changed are re-chunked."""
        self._check_open()
        return await resync_sites(self, limits=limits, progress=progress, cancel=cancel, http=http)

    # ---- search ---------------------------------------------------------------------------

    async def _validity_filter(self, today: date) -> str | None:
        if self._dated is None:
            self._dated = await self._catalog.has_dated()
        if not self._dated:
            return None  # no item has dates: skip the filter (it costs at 100k rows)
        day = today.toordinal()
        return f"valid_from <= {day} AND valid_until >= {day}"

    async def _fts_fields(self) -> list[str]:
        if self._tagged is None:
            self._tagged = await self._catalog.has_tags()
        return [f for f in FTS_FIELDS if f != "f_tags" or self._tagged]

    async def chunk(self, chunk_id: str) -> SearchHit | None:
        """The chunk a draft cited, or None if its item changed or was deleted since."""
        self._check_open()
        payload = await self._store.payload_of(chunk_id)
        return PAYLOAD_DECODER.decode(payload) if payload is not None else None

    async def search(
        self, query: str, *, k: int = 8, today: date | None = None, mode: SearchMode = "auto"
    ) -> list[SearchHit]:
        """The ``k`` best chunks for ``query``; offers outside their dates never appear.

        ``auto`` is hybrid (vector + BM25, reciprocal rank fusion) when vectors are ready,
        else full-text. If the embedding model fails during a hybrid search the full-text
        hits are returned (and a warning logged); ``mode="vector"`` raises instead.
        """
        self._check_open()
        unstemmed = self._analyzer.stem_language is None
        text = sanitize_query(query, loose_forms=unstemmed)
        if not text or k <= 0:
            return []
        use_vectors = mode in ("vector", "hybrid") or (mode == "auto" and self._vectors_ready)
        if use_vectors and (not self._vectors_ready or self.embedder is None):
            raise KnowledgeBaseError(
                "vector search needs an embedding model whose vectors are current (reembed())"
            )
        plan = SearchPlan(
            query=query,
            text=text,
            k=k,
            where=await self._validity_filter(today or date.today()),
            fields=await self._fts_fields(),
            mode=mode if use_vectors else "fts",
            expansion=query_expansion(query, loose_forms=unstemmed),
        )
        embedder = self.embedder if use_vectors else None
        return await run_search(self._store, embedder, plan)
