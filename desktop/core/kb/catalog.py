"""Item metadata in a small SQLite file beside the LanceDB folder (``items.sqlite3``).

LanceDB holds the chunks (what search ranks); this file holds one row per item (what the
owner edits and lists), a few settings, and a copy of each chunk's payload under its
LanceDB row id (what search shows: a read here costs microseconds, a LanceDB take about a
millisecond). Writes go to LanceDB first and then here, so a crash between the two leaves
orphan chunks, which ``KnowledgeBase.open`` removes, or payloads not copied yet, which
search then reads from LanceDB (``ChunkStore.payloads``).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import msgspec

from .chunking import ChunkDraft
from .models import ItemInfo, ItemType, PendingChange

__all__ = ["Catalog", "HeldChange", "ItemRecord"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    item_type TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    alternatives TEXT NOT NULL DEFAULT '[]',
    tags TEXT NOT NULL DEFAULT '[]',
    price TEXT,
    valid_from TEXT,
    valid_until TEXT,
    source TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    chunks INTEGER NOT NULL DEFAULT 0,
    sample TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_source ON items (source);
CREATE INDEX IF NOT EXISTS items_type ON items (item_type);
CREATE TABLE IF NOT EXISTS pending (item_id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS payloads (
    row_id INTEGER PRIMARY KEY,
    item_id TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payloads_item ON payloads (item_id);
"""
_COLUMNS = (
    "item_id, item_type, title, body, alternatives, tags, price, valid_from, valid_until, "
    "source, fingerprint, extra, chunks, sample, created_at, updated_at"
)
_LIST = msgspec.json.Decoder(list[str])
_EXTRA = msgspec.json.Decoder(dict[str, str])


class ItemRecord(msgspec.Struct, kw_only=True):
    """One item row. ``extra`` holds per-type bookkeeping (web: etag, last-modified, simhash)."""

    item_id: str
    item_type: ItemType
    title: str
    body: str = ""
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    price: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    source: str = ""
    fingerprint: str = ""
    extra: dict[str, str] = msgspec.field(default_factory=dict)
    chunks: int = 0
    sample: str = ""
    created_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))

    def info(self) -> ItemInfo:
        return ItemInfo(
            item_id=self.item_id,
            item_type=self.item_type,
            title=self.title,
            text=self.body,
            alternatives=self.alternatives,
            tags=self.tags,
            price=self.price,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            source=self.source,
            chunks=self.chunks,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class HeldChange(msgspec.Struct, kw_only=True):
    """A changed page held back for review: what to store once accepted, and both texts."""

    record: ItemRecord
    drafts: list[ChunkDraft]
    change: PendingChange


_HELD = msgspec.json.Decoder(HeldChange)


def _row(r: ItemRecord) -> tuple[object, ...]:
    enc = msgspec.json.encode
    return (
        r.item_id,
        r.item_type,
        r.title,
        r.body,
        enc(list(r.alternatives)).decode(),
        enc(list(r.tags)).decode(),
        r.price,
        r.valid_from.isoformat() if r.valid_from else None,
        r.valid_until.isoformat() if r.valid_until else None,
        r.source,
        r.fingerprint,
        enc(r.extra).decode(),
        r.chunks,
        r.sample,
        r.created_at.isoformat(),
        r.updated_at.isoformat(),
    )


def _record(row: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        item_id=row["item_id"],
        item_type=row["item_type"],
        title=row["title"],
        body=row["body"],
        alternatives=tuple(_LIST.decode(row["alternatives"])),
        tags=tuple(_LIST.decode(row["tags"])),
        price=row["price"],
        valid_from=date.fromisoformat(row["valid_from"]) if row["valid_from"] else None,
        valid_until=date.fromisoformat(row["valid_until"]) if row["valid_until"] else None,
        source=row["source"],
        fingerprint=row["fingerprint"],
        extra=_EXTRA.decode(row["extra"]),
        chunks=row["chunks"],
        sample=row["sample"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


class _Items:
    """The SQLite side: quick indexed queries and batched writes, on the catalog's thread."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def put(self, records: Sequence[ItemRecord]) -> None:
        marks = ", ".join("?" * len(_COLUMNS.split(",")))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR REPLACE INTO items ({_COLUMNS}) VALUES ({marks})",
                [_row(r) for r in records],
            )

    def delete(self, item_ids: list[str]) -> int:
        with self._db:
            self._db.execute("BEGIN")
            cur = self._db.executemany(
                "DELETE FROM items WHERE item_id = ?", [(i,) for i in item_ids]
            )
            self._db.executemany("DELETE FROM pending WHERE item_id = ?", [(i,) for i in item_ids])
        return cur.rowcount

    def put_payloads(self, rows: list[tuple[int, str, str]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO payloads VALUES (?, ?, ?)", rows)

    def drop_payloads(self, item_ids: list[str] | None) -> None:
        with self._db:
            self._db.execute("BEGIN")
            if item_ids is None:
                self._db.execute("DELETE FROM payloads")
            else:
                self._db.executemany(
                    "DELETE FROM payloads WHERE item_id = ?", [(i,) for i in item_ids]
                )

    def count_payloads(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM payloads").fetchone()[0])

    def payloads(self, row_ids: list[int]) -> dict[int, str]:
        marks = ", ".join("?" * len(row_ids))
        rows = self._db.execute(
            f"SELECT row_id, payload FROM payloads WHERE row_id IN ({marks})", row_ids
        )
        return {r[0]: r[1] for r in rows}

    def hold(self, held: HeldChange) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pending (item_id, data) VALUES (?, ?)",
            (held.record.item_id, msgspec.json.encode(held)),
        )

    def held(self, item_id: str | None) -> list[HeldChange]:
        if item_id is None:
            rows = self._db.execute("SELECT data FROM pending").fetchall()
        else:
            rows = self._db.execute(
                "SELECT data FROM pending WHERE item_id = ?", (item_id,)
            ).fetchall()
        return sorted((_HELD.decode(r[0]) for r in rows), key=lambda h: h.change.detected_at)

    def release(self, item_id: str) -> bool:
        with self._db:
            cur = self._db.execute("DELETE FROM pending WHERE item_id = ?", (item_id,))
        return cur.rowcount > 0

    def get(self, item_id: str) -> ItemRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM items WHERE item_id = ?", (item_id,)
        ).fetchone()
        return None if row is None else _record(row)

    def existing(self, item_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(item_ids), 500):
            part = item_ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            rows = self._db.execute(f"SELECT item_id FROM items WHERE item_id IN ({marks})", part)
            found.update(r[0] for r in rows)
        return found

    def by_source(self, source: str) -> ItemRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM items WHERE source = ? LIMIT 1", (source,)
        ).fetchone()
        return None if row is None else _record(row)

    def records(self, item_type: ItemType | None) -> list[ItemRecord]:
        if item_type is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM items ORDER BY created_at, item_id")
        else:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE item_type = ? ORDER BY created_at, item_id",
                (item_type,),
            )
        return [_record(r) for r in rows]

    def all_ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT item_id FROM items")}

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])

    def has_dated(self) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM items WHERE valid_from IS NOT NULL OR valid_until IS NOT NULL LIMIT 1"
        ).fetchone()
        return row is not None

    def has_tags(self) -> bool:
        row = self._db.execute("SELECT 1 FROM items WHERE tags != '[]' LIMIT 1").fetchone()
        return row is not None

    def samples(self, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT sample FROM items ORDER BY updated_at DESC LIMIT ?", (limit,)
        )
        return [r[0] for r in rows]


class Catalog:
    """The items file, read and written on one thread of its own: the loop only awaits."""

    def __init__(self, items: _Items, worker: ThreadPoolExecutor) -> None:
        self._items = items
        self._worker = worker

    @classmethod
    async def open(cls, path: Path) -> Catalog:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clientora-kb-catalog")
        try:
            items = await asyncio.get_running_loop().run_in_executor(worker, _Items, path)
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(items, worker)

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, call)

    async def close(self) -> None:
        await self._run(self._items.close)
        self._worker.shutdown(wait=False)

    async def get_meta(self, key: str) -> str | None:
        return await self._run(functools.partial(self._items.get_meta, key))

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(functools.partial(self._items.set_meta, key, value))

    async def put(self, records: Sequence[ItemRecord]) -> None:
        """Insert or replace ``records`` in one transaction."""
        await self._run(functools.partial(self._items.put, list(records)))

    async def delete(self, item_ids: Iterable[str]) -> int:
        return await self._run(functools.partial(self._items.delete, list(item_ids)))

    async def get(self, item_id: str) -> ItemRecord | None:
        return await self._run(functools.partial(self._items.get, item_id))

    # The payload copy (``store.PayloadCopy``): row ids are LanceDB's stable row ids.

    async def put_payloads(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Insert or replace (row id, item id, payload) rows in one transaction."""
        await self._run(functools.partial(self._items.put_payloads, list(rows)))

    async def drop_payloads(self, item_ids: Iterable[str] | None) -> None:
        """Forget the payloads of these items (of every item with None)."""
        ids = None if item_ids is None else list(item_ids)
        await self._run(functools.partial(self._items.drop_payloads, ids))

    async def count_payloads(self) -> int:
        return await self._run(self._items.count_payloads)

    async def payloads(self, row_ids: Sequence[int]) -> dict[int, str]:
        """The copied payload of each row id that has one."""
        return await self._run(functools.partial(self._items.payloads, list(row_ids)))

    async def hold(self, held: HeldChange) -> None:
        """Keep a changed page for review (replacing an earlier held version of it)."""
        await self._run(functools.partial(self._items.hold, held))

    async def held(self, item_id: str | None = None) -> list[HeldChange]:
        """Changes waiting for review (one item's, or all), oldest first."""
        return await self._run(functools.partial(self._items.held, item_id))

    async def release(self, item_id: str) -> bool:
        """Forget a held change; False when there was none."""
        return await self._run(functools.partial(self._items.release, item_id))

    async def existing(self, item_ids: Sequence[str]) -> set[str]:
        return await self._run(functools.partial(self._items.existing, list(item_ids)))

    async def by_source(self, source: str) -> ItemRecord | None:
        return await self._run(functools.partial(self._items.by_source, source))

    async def records(self, item_type: ItemType | None = None) -> list[ItemRecord]:
        return await self._run(functools.partial(self._items.records, item_type))

    async def all_ids(self) -> set[str]:
        return await self._run(self._items.all_ids)

    async def count(self) -> int:
        return await self._run(self._items.count)

    async def has_dated(self) -> bool:
        """Whether any item has a validity window, i.e. search needs a date filter."""
        return await self._run(self._items.has_dated)

    async def has_tags(self) -> bool:
        """Whether any item has tags, i.e. the tags field is worth a query."""
        return await self._run(self._items.has_tags)

    async def samples(self, limit: int = 2000) -> list[str]:
        """Text samples of the most recent items, for language detection."""
        return await self._run(functools.partial(self._items.samples, limit))
