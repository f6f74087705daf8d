"""PostgreSQL for tests: a throwaway schema per test, skipped (or failed on CI) without a server."""

from __future__ import annotations

import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from tests.needs import unavailable

__all__ = ["DEFAULT_DSN", "admin_dsn", "pg_schema", "unavailable", "with_search_path"]

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def admin_dsn() -> str:
    """The server tests use: ``CLIENTORA_TEST_POSTGRES``, else the CI default."""
    return os.environ.get("CLIENTORA_TEST_POSTGRES") or DEFAULT_DSN


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` whose connections put ``schema`` first (asyncpg sends query params as settings)."""
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "search_path"] + [("search_path", schema)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _shown(dsn: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A DSN whose tables live in a fresh schema, dropped afterwards."""
    dsn = admin_dsn()
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        unavailable(f"PostgreSQL not reachable at {_shown(dsn)}: {exc!r}")
    schema = f"t_{secrets.token_hex(6)}"
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield with_search_path(dsn, schema)
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()
