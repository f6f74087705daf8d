"""``create_app(settings)``: the relay as an ASGI application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, MediaType, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from relay.accounts import accounts_router
from relay.away import away_router, keep_sweeping
from relay.channels import channels_router
from relay.crypto import PasswordHasher, load_keyring
from relay.directory import ChannelDirectory
from relay.erasure import erasure_router, meta_deletion_router
from relay.errors import EXCEPTION_HANDLERS, RelayError
from relay.gateway import gateway_router
from relay.health import flush_activity, health_router, keep_checking
from relay.onboarding import meta_callback_router, onboarding_router
from relay.pages import pages_router
from relay.plans import load_plans, load_prices
from relay.retention import keep_retaining
from relay.send import PlatformUrls
from relay.sending import sending_router
from relay.services import Services
from relay.settings import Settings
from relay.store import open_store
from relay.stream import stream
from relay.usage import usage_router
from relay.webchat import webchat_router
from relay.webhooks.routes import META_PATH, serve_meta, webhooks_router

__all__ = ["create_app"]

log = logging.getLogger("clientora.relay.app")

#: A database slower than this to answer a trivial read counts as not ready.
READY_TIMEOUT_S = 2.0
#: With PostgreSQL, how often each process reloads the channels other processes changed.
DIRECTORY_RELOAD_S = 2.0


def _services(state: State) -> Services:
    services: Services = state.services
    return services


@get("/healthz", media_type=MediaType.TEXT, include_in_schema=False)
async def healthz() -> str:
    """The process is up."""
    return "ok"


@get("/readyz", include_in_schema=False)
async def readyz(services: NamedDependency[Services]) -> dict[str, str]:
    """Ready for traffic: not draining, the database answers in time, and (PostgreSQL)
    other processes' commits reach this one's streams."""
    if services.wakeups.closed:
        raise RelayError(503, "draining", "This process is shutting down.")
    try:
        await asyncio.wait_for(services.store.head(""), READY_TIMEOUT_S)
    except Exception:
        raise RelayError(503, "not_ready", "The database is not reachable.") from None
    if not services.store.hears_others():
        # Its streams would learn of other processes' webhooks only at each heartbeat.
        raise RelayError(
            503, "not_listening", "This process cannot LISTEN on PostgreSQL; reconnecting."
        )
    return {"status": "ready"}


async def _keep_directory_fresh(services: Services) -> None:
    """Channels connected or removed, and away switches turned, through another process
    take effect here within seconds."""
    while True:
        await asyncio.sleep(DIRECTORY_RELOAD_S)
        try:
            await services.directory.reload()
            services.away_on = await services.store.away_switched_on()
        except Exception:
            log.warning("cannot reload the channel directory", exc_info=True)


class _Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False


class _Relay(Litestar):
    """Litestar, with Meta's webhooks (the busiest route, raw ASGI already) handed to their
    handler before routing: the router and middleware cost about a tenth of the event
    loop's time per webhook (py-spy) and none applies to it (no dependencies; the
    metrics middleware skips /webhooks)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == META_PATH:
            scope["app"] = scope["litestar_app"] = self
            await serve_meta(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> Litestar:
    """Build the relay; the store, keys and HTTP client open in the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await open_store(settings.database_url)
        keyring = load_keyring(settings.master_keys, Path(settings.key_file))
        # With PostgreSQL other processes connect and remove channels too.
        directory = ChannelDirectory(None if settings.sqlite_path else store.all_channels)
        directory.load(await store.all_channels())
        async with httpx.AsyncClient(timeout=settings.send_timeout_s) as http:
            services = Services(
                settings=settings,
                store=store,
                keyring=keyring,
                hasher=PasswordHasher(settings.password_memory_kib, settings.password_iterations),
                directory=directory,
                http=http,
                urls=PlatformUrls(graph=settings.graph_base_url, viber=settings.viber_base_url),
                plans=load_plans(settings.plans),
                prices=load_prices(settings.ai_prices),
            )
            services.away_on = await store.away_switched_on()
            store.on_commit(services.wakeups.notify)
            app.state.services = services
            retention = (
                asyncio.get_running_loop().create_task(keep_retaining(services), name="retention")
                if settings.retention_interval_s > 0
                else None
            )
            reloading = (
                asyncio.get_running_loop().create_task(
                    _keep_directory_fresh(services), name="directory"
                )
                if directory.shared
                else None
            )
            checking = (
                asyncio.get_running_loop().create_task(keep_checking(services), name="health")
                if settings.health_interval_s > 0 or settings.health_flush_s > 0
                else None
            )
            sweeping = (
                asyncio.get_running_loop().create_task(keep_sweeping(services), name="away")
                if settings.away_sweep_s > 0
                else None
            )
            try:
                yield
            finally:
                for task in (retention, reloading, sweeping):
                    if task is not None:
                        task.cancel()
                        with suppress(asyncio.CancelledError):
                            await task
                if services.background:
                    await asyncio.wait(set(services.background), timeout=settings.send_timeout_s)
                if checking is not None:
                    checking.cancel()
                    with suppress(asyncio.CancelledError):
                        await checking
                await flush_activity(services)
                await store.close()

    prometheus = PrometheusConfig(
        app_name="clientora_relay",
        prefix="clientora",
        group_path=True,
        exclude=["/metrics", "/healthz", "/webhooks"],
    )
    return _Relay(
        route_handlers=[
            healthz,
            readyz,
            _Metrics,
            accounts_router(settings.login_rate_per_minute),
            channels_router(),
            webhooks_router(),
            sending_router(),
            away_router(),
            usage_router(),
            gateway_router(),
            webchat_router(),
            erasure_router(),
            meta_deletion_router(),
            pages_router(),
            health_router(),
            onboarding_router(),
            meta_callback_router(),
            stream,
        ],
        dependencies={"services": Provide(_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        middleware=[prometheus.middleware],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Clientora relay",
            version="1",
            path="/docs",
            # The schema only: a browser UI would load an unpinned script from a CDN.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        debug=False,
        # The command configures logging (JSON lines, level) before the app exists.
        logging_config=None,
    )
