"""The LanceDB chunk table: schema, writes, per-field FTS and vector queries, index upkeep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import lancedb
import msgspec
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, IvfRq
from lancedb.query import FullTextOperator, MatchQuery

from .language import Analyzer

__all__ = ["FTS_FIELDS", "ChunkRow", "ChunkStore", "PayloadCopy", "sql_str"]

log = logging.getLogger(__name__)

# Row ids in TABLE are stable (kept through compaction, updates and overwrites, never
# reused), so a copy of the payloads can be kept under them (``PayloadCopy``). A base
# from before has LEGACY_TABLE, whose row ids change on compaction: it is copied into
# TABLE once and then dropped.
TABLE = "chunks_v2"
LEGACY_TABLE = "chunks"
_STABLE_ROW_IDS = {"new_table_enable_stable_row_ids": "true"}
# Per-field BM25, summed. f_title: question + alternative phrasings (FAQ), title + heading
# path (documents); f_tags: FAQ tags; f_all: everything including the body. Scores are
# summed in Python from one query per field: a BooleanQuery of SHOULD clauses sums too but
# ran ~10x slower at 100k chunks (measured), and MultiMatch takes the max, not the sum.
FTS_FIELDS: dict[str, float] = {"f_title": 1.0, "f_tags": 1.0, "f_all": 1.0}
VECTOR_INDEX_MIN_ROWS = 10_000
# The vector index: IVF with RaBitQ codes (2 bits a dimension), about one partition per
# 1,000 rows, 60 partitions probed, the candidates re-ranked on the full vectors. At 100k x
# 1536 (tests/bench/kb_search.py) it found 0.98 of the true top 10 at ~4.5 ms of CPU a
# query; IVF_SQ (8 bits) needed ~11 ms for 0.95 and its scan is what that time was spent
# on (measured with the probes: 10 → 4 ms, 40 → 11 ms). See docs/decisions.md.
VECTOR_INDEX_TYPE = "IvfRq"
VECTOR_NPROBES = 60
VECTOR_REFINE = 1
VECTOR_BITS = 2
NO_END = 2**31 - 1  # valid_until of items without an end date (days since 0001-01-01)
# Old versions are kept this long so queries running during a cleanup never lose files.
CLEANUP_AFTER = timedelta(seconds=30)


class PayloadCopy(Protocol):
    """Where search reads payloads by row id (the catalog's SQLite file): a LanceDB take
    costs about a millisecond however few rows it reads, a SQLite read microseconds."""

    async def put_payloads(self, rows: Sequence[tuple[int, str, str]]) -> None: ...
    async def drop_payloads(self, item_ids: Sequence[str] | None) -> None: ...
    async def count_payloads(self) -> int: ...
    async def payloads(self, row_ids: Sequence[int]) -> dict[int, str]: ...


class ChunkRow(msgspec.Struct, kw_only=True):
    """One chunk as stored. ``f_*`` are search forms of the text (Cyrillic transliterated);
    ``payload`` is the SearchHit shown for it, as JSON: one column read per result."""

    chunk_id: str
    item_id: str
    item_type: str
    valid_from: int  # date.toordinal(); 0 when open-ended
    valid_until: int  # NO_END when open-ended
    f_title: str
    f_tags: str
    f_all: str
    payload: str


def sql_str(value: str) -> str:
    """A SQL string literal for Lance filters (ids come from users and files)."""
    return "'" + value.replace("'", "''") + "'"


async def _ranked(query: Any) -> pa.Table:
    """``query.to_arrow()`` for the queries every search runs, without the table-schema
    read lancedb makes first to look for blob columns (this table has none): 0.7 ms of
    CPU a hybrid search (five queries), measured. Falls back to ``to_arrow()`` should
    lancedb's internals move."""
    inner = getattr(query, "_inner", None)
    if inner is None or not hasattr(inner, "execute"):
        return await query.to_arrow()
    stream = await inner.execute(max_batch_length=None, timeout=None)
    return pa.Table.from_batches([batch async for batch in stream], schema=stream.schema)


def _match(query: str, field: str) -> MatchQuery:
    # Exact terms, OR: fuzziness and AND both hurt ranking (measured, data README).
    return MatchQuery(
        query,
        field,
        boost=1.0,
        fuzziness=0,
        max_expansions=50,
        operator=FullTextOperator.OR,
        prefix_length=0,
        document_granularity=None,
    )


def _schema(dims: int | None) -> pa.Schema:
    fields = [
        pa.field("chunk_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("item_type", pa.string()),
        pa.field("valid_from", pa.int32()),
        pa.field("valid_until", pa.int32()),
        *(pa.field(name, pa.string()) for name in FTS_FIELDS),
        pa.field("payload", pa.string()),
    ]
    if dims:
        fields.append(pa.field("vector", pa.list_(pa.float32(), dims), nullable=True))
    return pa.schema(fields)


class ChunkStore:
    """Wraps one AsyncTable. Callers serialise writes; reads may run alongside them.

    Every write updates the payload copy after LanceDB: an item's copied payloads are
    dropped before its chunks change, so a crash in between leaves payloads missing
    (read from LanceDB instead), never stale ones.
    """

    def __init__(self, db: Any, table: Any, dims: int | None, copy: PayloadCopy) -> None:
        self._db = db
        self.table = table
        self.dims = dims
        self._copy = copy

    @classmethod
    async def open(cls, path: Path, *, dims: int | None, copy: PayloadCopy) -> ChunkStore:
        """Open the table, creating it (with a vector column when ``dims``) if missing."""
        db = await lancedb.connect_async(str(path), storage_options=_STABLE_ROW_IDS)
        names = set((await db.list_tables()).tables)
        if {TABLE, LEGACY_TABLE} <= names:  # a move cut short: the old table is still whole
            await db.drop_table(TABLE)
            names.discard(TABLE)
        if TABLE in names:
            table = await db.open_table(TABLE)
            schema = await table.schema()
            field = schema.field("vector") if "vector" in schema.names else None
            store = cls(db, table, field.type.list_size if field is not None else None, copy)
            if await table.count_rows() != await copy.count_payloads():
                await store._copy_all()  # a crash left the copy behind: copy it whole again
        elif LEGACY_TABLE in names:
            legacy: Any = await db.open_table(LEGACY_TABLE)
            data = await legacy.query().to_arrow()
            legacy.close()
            field = data.schema.field("vector") if "vector" in data.schema.names else None
            stored_dims = field.type.list_size if field is not None else None
            table = await db.create_table(TABLE, data=data, schema=data.schema)
            store = cls(db, table, stored_dims, copy)
            await store._copy_all()
        else:
            store = cls(db, await db.create_table(TABLE, schema=_schema(dims)), dims, copy)
        if LEGACY_TABLE in names:  # only once TABLE holds its rows
            await db.drop_table(LEGACY_TABLE)
        return store

    async def recreate(self, dims: int | None, data: pa.Table | None = None) -> None:
        """Replace the table (new vector width) in one overwrite; indexes must be rebuilt."""
        await self._copy.drop_payloads(None)  # before: the old row ids go with the old table
        schema = _schema(dims)
        if data is None:
            self.table = await self._db.create_table(TABLE, schema=schema, mode="overwrite")
        else:
            self.table = await self._db.create_table(
                TABLE, data=data.select(schema.names).cast(schema), mode="overwrite"
            )
        self.dims = dims
        await self._copy_all()

    async def _copy_written(self, rows: Sequence[ChunkRow]) -> None:
        """Copy the payloads of rows just written, under the row ids LanceDB gave them."""
        payloads = {r.chunk_id: (r.item_id, r.payload) for r in rows}
        ids = list(payloads)
        for i in range(0, len(ids), 5000):
            quoted = ", ".join(sql_str(x) for x in ids[i : i + 5000])
            found = await (
                self.table.query()
                .where(f"chunk_id IN ({quoted})")
                .select(["chunk_id"])
                .with_row_id()
                .to_arrow()
            )
            await self._copy.put_payloads(
                [
                    (rowid, *payloads[chunk_id])
                    for chunk_id, rowid in zip(
                        found.column("chunk_id").to_pylist(),
                        found.column("_rowid").to_pylist(),
                        strict=True,
                    )
                ]
            )

    async def _copy_all(self) -> None:
        await self._copy.drop_payloads(None)
        data = await self.table.query().select(["item_id", "payload"]).with_row_id().to_arrow()
        await self._copy.put_payloads(
            list(
                zip(
                    data.column("_rowid").to_pylist(),
                    data.column("item_id").to_pylist(),
                    data.column("payload").to_pylist(),
                    strict=True,
                )
            )
        )

    def close(self) -> None:
        self.table.close()
        self._db.close()

    def to_arrow_rows(self, rows: Sequence[ChunkRow], vectors: np.ndarray | None) -> pa.Table:
        columns = {f: [getattr(r, f) for r in rows] for f in ChunkRow.__struct_fields__}
        schema = _schema(self.dims)
        arrays = [pa.array(columns[f.name], type=f.type) for f in schema if f.name != "vector"]
        if self.dims:
            if vectors is None:
                arrays.append(pa.nulls(len(rows), schema.field("vector").type))
            else:
                flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, self.dims))
        return pa.Table.from_arrays(arrays, schema=schema)

    async def add(self, rows: Sequence[ChunkRow], vectors: np.ndarray | None) -> None:
        if rows:
            await self.table.add(self.to_arrow_rows(rows, vectors))
            await self._copy_written(rows)

    async def replace_item(
        self, item_id: str, rows: Sequence[ChunkRow], vectors: np.ndarray | None
    ) -> None:
        """New chunks of one item in, its other chunks out, in one commit."""
        if not rows:
            await self.delete_items([item_id])
            return
        await self._copy.drop_payloads([item_id])
        await (
            self.table.merge_insert("chunk_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"item_id = {sql_str(item_id)}")
            .execute(self.to_arrow_rows(rows, vectors))
        )
        await self._copy_written(rows)

    async def delete_items(self, item_ids: Sequence[str]) -> None:
        for i in range(0, len(item_ids), 500):
            ids = ", ".join(sql_str(x) for x in item_ids[i : i + 500])
            await self.table.delete(f"item_id IN ({ids})")
        await self._copy.drop_payloads(item_ids)

    async def item_ids(self) -> set[str]:
        data = await self.table.query().select(["item_id"]).to_arrow()
        return set(data.column("item_id").to_pylist())

    async def count(self, where: str | None = None) -> int:
        return int(await self.table.count_rows(where))

    # ---- search ---------------------------------------------------------------------------
    # Two stages: ranked row ids first (cheap: no column is read), then one read of the
    # payload column for the final top k only.

    async def _field(self, query: str, field: str, depth: int, where: str | None) -> Any:
        q = self.table.query().nearest_to_text(_match(query, field))
        if where:
            q = q.where(where)
        return await _ranked(q.select(["_score"]).with_row_id().limit(depth))

    async def fts(
        self, query: str, depth: int, where: str | None, fields: Sequence[str]
    ) -> list[tuple[int, float]]:
        """(row id, summed per-field BM25) best first; each field contributes its top ``depth``."""
        tables = await asyncio.gather(*(self._field(query, f, depth, where) for f in fields))
        scores: dict[int, float] = {}
        for field, table in zip(fields, tables, strict=True):
            boost = FTS_FIELDS[field]
            for rowid, score in zip(
                table.column("_rowid").to_pylist(), table.column("_score").to_pylist(), strict=True
            ):
                scores[rowid] = scores.get(rowid, 0.0) + boost * score
        return sorted(scores.items(), key=lambda pair: -pair[1])

    async def vector(
        self, vector: Sequence[float], depth: int, where: str | None
    ) -> list[tuple[int, float]]:
        """(row id, cosine distance) nearest first."""
        q = self.table.query().nearest_to(np.asarray(vector, dtype=np.float32))
        q = q.column("vector").distance_type("cosine")
        q = q.nprobes(VECTOR_NPROBES).refine_factor(VECTOR_REFINE)
        if where:
            q = q.where(where)
        table = await _ranked(q.select(["_distance"]).with_row_id().limit(depth))
        rowids = table.column("_rowid").to_pylist()
        return list(zip(rowids, table.column("_distance").to_pylist(), strict=True))

    async def payloads(self, rowids: Sequence[int]) -> dict[int, str]:
        """The payload of each row id still present (a row deleted meanwhile is left out):
        from the copy, and from LanceDB for any row not copied (yet)."""
        if not rowids:
            return {}
        found = await self._copy.payloads(rowids)
        missing = [r for r in rowids if r not in found]
        if missing:
            table = (
                await self.table.take_row_ids(missing).select(["payload"]).with_row_id().to_arrow()
            )
            found.update(
                zip(
                    table.column("_rowid").to_pylist(),
                    table.column("payload").to_pylist(),
                    strict=True,
                )
            )
        return found

    async def payload_of(self, chunk_id: str) -> str | None:
        """One chunk's payload by its id (citations show exactly the passage used)."""
        quoted = chunk_id.replace("'", "''")
        table = (
            await self.table.query()
            .where(f"chunk_id = '{quoted}'")
            .select(["payload"])
            .limit(1)
            .to_arrow()
        )
        values = table.column("payload").to_pylist()
        return str(values[0]) if values else None

    async def payloads_of_item(self, item_id: str) -> list[str]:
        """Every chunk payload of one item, in stored order (the text it answers from)."""
        table = (
            await self.table.query()
            .where(f"item_id = {sql_str(item_id)}")
            .select(["payload"])
            .to_arrow()
        )
        return [str(p) for p in table.column("payload").to_pylist()]

    # ---- indexes --------------------------------------------------------------------------

    async def has_fts(self) -> bool:
        indexed = {tuple(i.columns) for i in await self.table.list_indices()}
        return all((field,) in indexed for field in FTS_FIELDS)

    async def build_fts(self, analyzer: Analyzer) -> None:
        config = FTS(
            base_tokenizer="simple",
            language=analyzer.stem_language or "English",
            stem=analyzer.stem_language is not None,
            remove_stop_words=analyzer.remove_stop_words,
            lower_case=True,
            ascii_folding=True,
            with_position=False,
        )
        for field in FTS_FIELDS:
            await self.table.create_index(field, config=config, replace=True)

    async def unindexed_rows(self) -> int:
        worst = 0
        for index in await self.table.list_indices():
            worst = max(worst, int(index.num_unindexed_rows or 0))
        return worst

    async def has_vector_index(self) -> bool:
        """A vector index of the current kind exists (an older kind is rebuilt)."""
        return any(
            i.columns == ["vector"] and i.index_type == VECTOR_INDEX_TYPE
            for i in await self.table.list_indices()
        )

    async def build_vector_index(self) -> None:
        assert self.dims, "no vector column"
        rows = await self.count("vector IS NOT NULL")
        partitions = max(16, min(256, rows // 1000))
        await self.table.create_index(
            "vector",
            config=IvfRq(distance_type="cosine", num_partitions=partitions, num_bits=VECTOR_BITS),
            replace=True,
        )

    async def optimize(self) -> None:
        """Fold new rows into the indexes, compact small files, drop old versions."""
        stats = await self.table.optimize(cleanup_older_than=CLEANUP_AFTER)
        if not stats.compaction.fragments_removed:
            # A pass that had many rows to index can leave the fragments uncompacted
            # (seen at 100k rows); fewer fragments make reads by row id cheaper.
            fragments = (await self.table.stats())["fragment_stats"]["num_small_fragments"]
            if fragments > 8:
                await self.table.optimize(cleanup_older_than=CLEANUP_AFTER)
