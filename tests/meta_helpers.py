"""Helpers for "Connect with Facebook" and channel-health tests: a Meta app on the fake
Graph, a shop owner with Pages, Instagram and WhatsApp, a relay set up for the login, and
the browser's part (following Meta's redirect back to the relay)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from litestar import Litestar

from relay.app import create_app
from relay.services import Services
from tests.conftest import PAGE_TOKEN, WA_TOKEN, relay_settings
from tests.fakes.graph import GRAPH_VERSION, FakeGraph
from tests.fakes.meta_users import (
    FakeInstagram,
    FakePage,
    FakePhone,
    FakeWhatsApp,
    MetaUser,
)
from tests.fakes.server import AppFactory, ServedApp, serve_app
from tests.relay_helpers import APP_SECRET

__all__ = [
    "APP_ID",
    "CONFIG_ID",
    "IG_ID",
    "KAFE_PAGE",
    "OTHER_PAGE",
    "PHONE_ID",
    "WABA_ID",
    "RelayHandle",
    "browse",
    "graph",
    "kafe_owner",
    "meta_graph",
    "meta_relay",
    "relay",
    "strict_meta_relay",
]

T = TypeVar("T")

APP_ID = "602214076"
CONFIG_ID = "cfg-8675309"
KAFE_PAGE = "104832"
IG_ID = "17841401234"
WABA_ID = "2391001"
PHONE_ID = "1065403522"
OTHER_PAGE = "555001"


def kafe_owner(
    *,
    page_token: str = "EAAG-kafe-page-token-0001",
    scopes: tuple[str, ...] | None = None,
    decision: str = "grant",
) -> MetaUser:
    """Arta: her Page "Kafe Prishtina" (with Instagram @kafeprishtina), a Page where she
    may only analyse (no Messaging task), and a WhatsApp account with one number."""
    kafe = FakePage(
        KAFE_PAGE,
        "Kafe Prishtina",
        page_token,
        instagram=FakeInstagram(
            IG_ID, "kafeprishtina", "Kafe Prishtina", "https://cdn.example/kafe.jpg"
        ),
    )
    analytics_only = FakePage(
        OTHER_PAGE, "Prishtina Events", "EAAG-events-page-token", tasks=("ANALYZE",)
    )
    whatsapp = FakeWhatsApp(
        WABA_ID, "Kafe WA", (FakePhone(PHONE_ID, "+383 44 123 456", "Kafe Prishtina"),)
    )
    extra: dict[str, Any] = {} if scopes is None else {"scopes": scopes}
    return MetaUser(
        "10222270944537964",
        pages=(kafe, analytics_only),
        whatsapp=(whatsapp,),
        decision=decision,  # type: ignore[arg-type]
        **extra,
    )


@contextmanager
def meta_graph() -> Iterator[tuple[FakeGraph, ServedApp]]:
    """The fake Graph with the relay's Meta app (and the older test tokens)."""
    fake = FakeGraph(
        {PAGE_TOKEN, WA_TOKEN},
        instagram_ids={"17841400000000001"},
        whatsapp_numbers={"106540352242922"},
        app_id=APP_ID,
        app_secret=APP_SECRET,
        config_ids={CONFIG_ID},
    )
    with serve_app(fake.app) as served:
        yield fake, served


class RelayHandle:
    """A served relay and its app object, to run its own coroutines on its loop."""

    def __init__(self, served: ServedApp, app: Litestar) -> None:
        self.served = served
        self.app = app
        self.url = served.url

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def run(self, work: Callable[[Services], Awaitable[T]]) -> T:
        """Run ``work(services)`` on the relay's own event loop (where its store lives)."""
        loop = self.served.server.servers[0].get_loop()
        future = asyncio.run_coroutine_threadsafe(_call(work, self.services), loop)
        return await asyncio.wrap_future(future)


async def _call(work: Callable[[Services], Awaitable[T]], services: Services) -> T:
    return await work(services)


@contextmanager
def meta_relay(
    tmp_path: Path,
    graph: ServedApp,
    viber: ServedApp | None = None,
    **overrides: object,
) -> Iterator[RelayHandle]:
    """A relay with the Meta app configured (login dialog on the fake Graph)."""
    apps: list[Litestar] = []

    def build(base_url: str) -> Litestar:
        settings = relay_settings(
            tmp_path,
            graph_url=f"{graph.url}/{GRAPH_VERSION}",
            viber_url=f"{viber.url}/pa" if viber is not None else "http://127.0.0.1:9",
            public_url=base_url,
            meta_app_id=APP_ID,
            meta_login_config_id=CONFIG_ID,
            graph_dialog_url=f"{graph.url}/{GRAPH_VERSION}/dialog/oauth",
            health_interval_s=0,
            **overrides,
        )
        app = create_app(settings)
        apps.append(app)
        return app

    with serve_app(AppFactory(build)) as served:
        yield RelayHandle(served, apps[0])


@contextmanager
def strict_meta_relay(
    tmp_path: Path, graph: tuple[FakeGraph, ServedApp], viber: ServedApp | None = None
) -> Iterator[RelayHandle]:
    """``meta_relay`` with Meta in strict mode, as the operator sets it up: only this
    relay's exact redirect URI is allowed."""
    with meta_relay(tmp_path, graph[1], viber) as handle:
        assert graph[0].meta is not None
        graph[0].meta.redirect_uris = frozenset({f"{handle.url}/onboarding/meta/callback"})
        yield handle


# Fixtures of the Connect with Facebook tests (a module imports the ones it uses).


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, ServedApp]]:
    """The fake Graph with the relay's Meta app, Arta signed in at its login dialog."""
    with meta_graph() as served:
        assert served[0].meta is not None
        served[0].meta.sign_in(kafe_owner())
        yield served


@pytest.fixture
def relay(tmp_path: Path, graph: tuple[FakeGraph, ServedApp]) -> Iterator[RelayHandle]:
    """A relay set up for Connect with Facebook against ``graph``."""
    with strict_meta_relay(tmp_path / "relay", graph) as handle:
        yield handle


def browse(login_url: str) -> tuple[httpx.Response, str | None]:
    """The system browser: open the login link, follow Meta's redirect back to the relay.

    Returns the relay's page and the callback address (None if Meta did not redirect)."""
    with httpx.Client(timeout=30) as browser:
        dialog = browser.get(login_url)
        if dialog.status_code != 302:
            return dialog, None
        callback = dialog.headers["location"].split("#", 1)[0]
        return browser.get(callback), callback
