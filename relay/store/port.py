"""The database port the relay's queries are written against, once, for both drivers.

Queries use ``?`` placeholders and the SQL both databases speak (``ON CONFLICT``,
``RETURNING``, ``IS DISTINCT FROM``, ``GREATEST``, ``strpos``: the SQLite driver adds the
last two as functions). What really differs lives in the drivers: placeholders, how a
business's events are numbered, wake-ups, group commit and scrubbing deleted pages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

__all__ = ["Database", "Row", "Tx", "UniqueViolation", "build", "delete_in", "marks"]

T = TypeVar("T")
R = TypeVar("R")


class UniqueViolation(Exception):
    """A write broke a unique constraint (the driver's own error, translated)."""


class Row(Protocol):
    """A result row, read by column name (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Tx(Protocol):
    """One transaction. Operations given to ``Database.transact`` call only these methods:
    on SQLite they run inside a group commit on the event loop and must not wait on
    anything else."""

    async def execute(self, sql: str, *params: Any) -> int:
        """Run one statement; the number of rows it touched."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *params: Any) -> Row | None: ...

    async def lock_businesses(self, business_ids: Sequence[str]) -> None:
        """Serialise with every other writer of these businesses' event logs until commit
        (PostgreSQL locks their head rows in sorted order; SQLite has one writer)."""

    async def next_seq(self, business_id: str) -> int:
        """The seq of the business's next event (its business is locked first)."""

    def wake(self, business_id: str) -> None:
        """Tell the business's streams, once this transaction commits, to look again."""


class Database(Protocol):
    """A connected database: reads, single writes and transactions."""

    #: Tables of the driver's own that name a business (erased with its account).
    business_tables: tuple[str, ...]

    def on_commit(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener`` with the business ids woken by each commit (of any process)."""

    def hears_others(self) -> bool:
        """Whether commits of other processes wake this one now (PostgreSQL: its LISTEN
        connection is up; SQLite has no other process)."""

    async def close(self) -> None: ...

    async def fetch(self, sql: str, *params: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *params: Any) -> Row | None: ...
    async def write(self, sql: str, *params: Any) -> int:
        """One statement in its own transaction; the number of rows it touched."""

    async def transact(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``op`` in one transaction (retried whole where the database asks for it)
        and, after the commit, wake the businesses it stored events for."""

    async def scrub(self) -> None:
        """Make deleted rows unrecoverable from the database's files where it can (SQLite
        truncates its WAL; PostgreSQL leaves it to VACUUM)."""


def marks(count: int) -> str:
    """``?, ?, ?``: placeholders for an ``IN (...)`` list of ``count`` values."""
    return ", ".join("?" * count)


# Values bound into one ``IN (...)`` list at most (both databases cap parameters).
_CHUNK = 500


async def delete_in(tx: Tx, sql: str, fixed: Sequence[object], values: Sequence[object]) -> int:
    """``sql`` ends in ``IN ({})``; run it over ``values`` in chunks and count the rows."""
    total = 0
    for start in range(0, len(values), _CHUNK):
        chunk = values[start : start + _CHUNK]
        total += await tx.execute(sql.format(marks(len(chunk))), *fixed, *chunk)
    return total


_Converters = tuple[tuple[str, Callable[[Any], Any] | None], ...]
_CONVERTERS: dict[type[Any], _Converters] = {}


def _converters(cls: type[Any]) -> _Converters:
    """Per field of a row dataclass: its name and how to convert the database's value
    (SQLite keeps booleans as integers, asyncpg returns ``bytea`` as bytes already)."""
    out: list[tuple[str, Callable[[Any], Any] | None]] = []
    if (known := _CONVERTERS.get(cls)) is not None:
        return known
    for field in dataclasses.fields(cls):
        kind = str(field.type).replace(" ", "")
        convert: Callable[[Any], Any] | None = None
        if kind == "bool":
            convert = bool
        elif kind == "bool|None":
            convert = _optional(bool)
        elif kind == "bytes":
            convert = bytes
        elif kind == "bytes|None":
            convert = _optional(bytes)
        out.append((field.name, convert))
    _CONVERTERS[cls] = tuple(out)
    return _CONVERTERS[cls]


def _optional(convert: Callable[[Any], R]) -> Callable[[Any], R | None]:
    return lambda value: None if value is None else convert(value)


def build(cls: type[T], row: Row) -> T:
    """A row dataclass from a result row, each field read by its column's name."""
    values: dict[str, Any] = {}
    for name, convert in _converters(cls):
        value = row[name]
        values[name] = value if convert is None else convert(value)
    return cls(**values)
