"""The desktop engine's composition root: it opens the data folder and builds the
services the window, the command line and the headless server use.

Each service is small and owns one area (see ``desktop/core/services``): ``session``
(signing in, this device, the stream), ``channels`` (connecting, health, policies, the
test channel), ``conversations`` (lists, drafts and replies through the outbox),
``knowledge`` (the knowledge base and test questions), ``usage`` (counters and results)
and ``preferences`` (the settings). The parts they share (store, knowledge base, relay
client, outbox, assistant) are built here once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from desktop.core.assistant import Assistant
from desktop.core.credentials import CredentialStore, SavedSession, choose_credentials
from desktop.core.kb import KnowledgeBase, OpenAIEmbedder
from desktop.core.outbox import Outbox
from desktop.core.relay_client import RelayClient
from desktop.core.services import (
    AskResult,
    AwayService,
    ChannelsService,
    ConversationsService,
    DayUsage,
    Drafters,
    EngineError,
    KnowledgeService,
    LocalRelay,
    LocalRelayFactory,
    Preferences,
    SessionService,
    UsageReport,
    UsageService,
)
from desktop.core.settings import AppSettings
from desktop.core.store import AssistantStats, ChangeFeed, Store

__all__ = [
    "AskResult",
    "AssistantStats",
    "DayUsage",
    "Engine",
    "EngineError",
    "LocalRelay",
    "UsageReport",
]


class Engine:
    """Open with :meth:`open`, then :meth:`start`; :meth:`close` when done."""

    def __init__(
        self,
        preferences: Preferences,
        store: Store,
        kb: KnowledgeBase,
        credentials: CredentialStore,
        local_relay: LocalRelayFactory | None,
        saved: SavedSession | None,
        test_channel_id: str | None,
    ) -> None:
        self.preferences = preferences
        self.store = store
        self.kb = kb
        settings = preferences.settings
        self.client = RelayClient(settings.relay.url or "http://127.0.0.1:8700")
        self.outbox = Outbox(store, self.client)
        drafters = Drafters(preferences)
        self.assistant = Assistant(
            store,
            kb,
            self.outbox,
            settings=lambda: preferences.settings,
            drafter=drafters.current,
        )
        self.session = SessionService(
            preferences,
            store,
            self.client,
            self.outbox,
            self.assistant,
            credentials,
            local_relay,
            saved,
        )
        self.channels = ChannelsService(
            preferences, store, self.client, lambda: self.session.device_id, test_channel_id
        )
        self.conversations = ConversationsService(store, self.client, self.outbox, self.assistant)
        self.knowledge = KnowledgeService(preferences, kb, drafters)
        self.session.on_local_ready = self.channels.ensure_test_channel
        self.session.on_started.append(self.knowledge.start)
        self.away = AwayService(preferences, self.client)
        self.session.on_started.append(self.away.start)
        self.usage = UsageService(preferences, store, self.client, lambda: self.session.relay_head)

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        *,
        local_relay: LocalRelayFactory | None = None,
        credentials: CredentialStore | None = None,
    ) -> Engine:
        """Open the data folder (created on first use); nothing connects yet."""
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        preferences = await Preferences.load(data_dir)
        store = await Store.open(data_dir / "inbox.db")
        kb = await KnowledgeBase.open(
            data_dir / "knowledge", embedder=_embedder(preferences.settings)
        )
        if credentials is None:
            credentials = await asyncio.to_thread(choose_credentials, data_dir / "secrets")
        test_channel_id = (await _read_text(data_dir / "test-channel")) or None
        saved = await credentials.load()
        return cls(preferences, store, kb, credentials, local_relay, saved, test_channel_id)

    @property
    def settings(self) -> AppSettings:
        return self.preferences.settings

    @property
    def changes(self) -> ChangeFeed:
        """What changed in the local data, after each commit (the UI's one notification)."""
        return self.store.changes

    async def start(self) -> None:
        """Connect and start working: stream, outbox, assistant, website re-sync."""
        await self.session.start()

    async def close(self) -> None:
        await self.away.close()
        await self.session.close()
        await self.knowledge.close()
        await self.store.close()


def _embedder(settings: AppSettings) -> OpenAIEmbedder | None:
    if not settings.embeddings.enabled or not settings.ai_configured:
        return None
    return OpenAIEmbedder(
        base_url=settings.ai.base_url or "https://api.openai.com/v1",
        api_key=settings.ai.api_key or "unused",
        model=settings.embeddings.model,
        dims=settings.embeddings.dims,
    )


async def _read_text(path: Path) -> str:
    def read() -> str:
        return path.read_text().strip() if path.exists() else ""

    return await asyncio.to_thread(read)
