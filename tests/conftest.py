"""Shared fixtures: a real relay served over HTTP, with fake platforms beside it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from relay.app import create_app
from relay.send import PlatformUrls
from relay.settings import Settings
from relay.store import PostgresStore, SqliteStore, Store
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.fakes.viber import FakeViber
from tests.pg import pg_schema
from tests.relay_helpers import APP_SECRET, TEST_KEYS, VERIFY_TOKEN

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PAGE_TOKEN = "EAAG-page-token-1234567890"
WA_TOKEN = "EAAG-whatsapp-token-1234567890"
VIBER_TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"


@pytest.fixture
def fake_graph() -> Iterator[tuple[FakeGraph, ServedApp]]:
    """A fake Graph API on a free port that accepts the test tokens."""
    fake = FakeGraph(
        {PAGE_TOKEN, WA_TOKEN},
        instagram_ids={"17841400000000001"},
        whatsapp_numbers={"106540352242922"},
    )
    with serve_app(fake.app) as served:
        yield fake, served


def relay_settings(
    tmp_path: Path,
    graph_url: str = "http://127.0.0.1:9",
    viber_url: str = "http://127.0.0.1:9",
    **overrides: object,
) -> Settings:
    """Settings for a test relay: its own database, fixed keys, cheap password hashing."""
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'relay.db'}",
        "master_keys": TEST_KEYS,
        "meta_app_secret": APP_SECRET,
        "meta_verify_token": VERIFY_TOKEN,
        "password_memory_kib": 1024,
        "password_iterations": 1,
        "login_rate_per_minute": 1000,
        "graph_base_url": graph_url,
        "viber_base_url": viber_url,
        "send_attempts": 3,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake_viber() -> Iterator[tuple[FakeViber, ServedApp]]:
    """A fake Viber bot API that knows the test bot token."""
    fake = FakeViber({VIBER_TOKEN})
    with serve_app(fake.app) as served:
        yield fake, served


@pytest.fixture
def relay(
    tmp_path: Path,
    fake_graph: tuple[FakeGraph, ServedApp],
    fake_viber: tuple[FakeViber, ServedApp],
) -> Iterator[ServedApp]:
    """A real relay on a free port, sending to the fake Graph and Viber APIs."""

    def build(base_url: str) -> object:
        return create_app(
            relay_settings(
                tmp_path,
                graph_url=f"{fake_graph[1].url}/{GRAPH_VERSION}",
                viber_url=f"{fake_viber[1].url}/pa",
                public_url=base_url,
            )
        )

    with serve_app(AppFactory(build)) as served:
        yield served


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An opened, empty relay store of each kind (a test module may define its own ``store``)."""
    if request.param == "sqlite":
        sqlite = await SqliteStore.open(tmp_path / "relay.db")
        try:
            yield sqlite
        finally:
            await sqlite.close()
        return
    async with pg_schema() as dsn:
        postgres = await PostgresStore.open(dsn)
        try:
            yield postgres
        finally:
            await postgres.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client (the send tests call the platforms with it)."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def served_graph(graph_fake: FakeGraph) -> Iterator[tuple[FakeGraph, PlatformUrls]]:
    """The module's ``graph_fake`` served over HTTP, and platform URLs that lead to it."""
    with serve_app(graph_fake.app) as served:
        yield (
            graph_fake,
            PlatformUrls(graph=f"{served.url}/{GRAPH_VERSION}", viber="http://127.0.0.1:9"),
        )


@pytest.fixture
def graph(served_graph: tuple[FakeGraph, PlatformUrls]) -> FakeGraph:
    """The served fake Graph, with what earlier tests did to it forgotten."""
    served_graph[0].reset()
    return served_graph[0]


@pytest.fixture
def urls(served_graph: tuple[FakeGraph, PlatformUrls]) -> PlatformUrls:
    return served_graph[1]
