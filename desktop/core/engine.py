"""The desktop engine: one object that the window, the command line and the headless
server drive. It owns the local store, the knowledge base, the relay connection,
the outbox and the assistant, and turns their failures into plain-words errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import msgspec

from common.health import ChannelHealth
from common.onboarding import MetaLoginStarted, MetaLoginState
from common.protocol import ChannelInfo, ConnectChannel, Session, SignUp
from desktop.core import settings as settings_file
from desktop.core.assistant import Assistant
from desktop.core.autopilot import ChannelPolicy
from desktop.core.credentials import CredentialStore, SavedSession, choose_credentials
from desktop.core.drafting import Draft, Drafter, DraftRequest, ExtractiveDrafter, LLMDrafter, Turn
from desktop.core.kb import KnowledgeBase, OpenAIEmbedder
from desktop.core.kb.models import SearchHit
from desktop.core.outbox import Outbox
from desktop.core.relay_client import RelayClient, RelayError
from desktop.core.settings import AppSettings, RelaySettings
from desktop.core.store import AssistantStats, Change, ErasureApplied, Store
from desktop.core.sync import EventSync

__all__ = [
    "AskResult",
    "AssistantStats",
    "DayUsage",
    "Engine",
    "EngineError",
    "LocalRelay",
    "UsageReport",
]

log = logging.getLogger(__name__)

TEST_VISITOR = "test-customer-0001"
T = TypeVar("T")


class EngineError(Exception):
    """Something the owner must know, in plain words (``message``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LocalRelay(Protocol):
    """A relay the app hosts itself ("run on this computer")."""

    url: str

    def start(self) -> str: ...
    def stop(self) -> None: ...


LocalRelayFactory = Callable[[Path, int], LocalRelay]


@dataclass(frozen=True, slots=True)
class AskResult:
    hits: list[SearchHit]
    draft: Draft


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: str
    inbound: int = 0
    outbound_auto: int = 0
    outbound_manual: int = 0
    ai_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageReport:
    days: list[DayUsage]
    limits: dict[str, float]
    month: dict[str, float]
    resets_on: str


class _LocalAccount(msgspec.Struct, frozen=True):
    email: str
    password: str


class Engine:
    """Open with :meth:`open`, then :meth:`start`; :meth:`close` when done."""

    def __init__(
        self,
        data_dir: Path,
        settings: AppSettings,
        store: Store,
        kb: KnowledgeBase,
        credentials: CredentialStore,
        local_relay: LocalRelayFactory | None,
    ) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.store = store
        self.kb = kb
        self.credentials = credentials
        self._local_relay_factory = local_relay
        self._local: LocalRelay | None = None
        self.client = RelayClient(settings.relay.url or "http://127.0.0.1:8700")
        self.outbox = Outbox(store, self.client)
        self.assistant = Assistant(
            store, kb, self.outbox, settings=lambda: self.settings, drafter=self._drafter
        )
        self._session: SavedSession | None = None
        self._sync: EventSync | None = None
        self._llm: LLMDrafter | None = None
        self._extractive = ExtractiveDrafter()
        self.test_channel_id: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._confirming: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None

    # ---- lifecycle ------------------------------------------------------------------

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
        settings = await asyncio.to_thread(settings_file.load, data_dir / "settings.json")
        key = await asyncio.to_thread(settings_file.load_ai_key, data_dir)
        if key:
            settings = msgspec.structs.replace(
                settings, ai=msgspec.structs.replace(settings.ai, api_key=key)
            )
        store = await Store.open(data_dir / "inbox.db")
        kb = await KnowledgeBase.open(data_dir / "knowledge", embedder=_embedder(settings))
        if credentials is None:
            credentials = await asyncio.to_thread(choose_credentials, data_dir / "secrets")
        engine = cls(data_dir, settings, store, kb, credentials, local_relay)
        engine._session = await credentials.load()
        engine.test_channel_id = (await _read_text(data_dir / "test-channel")) or None
        return engine

    @property
    def signed_in(self) -> bool:
        return self._session is not None

    @property
    def mode(self) -> Literal["local", "remote"] | None:
        if self._session is None:
            return None
        return "local" if self.settings.relay.mode == "embedded" else "remote"

    async def start(self) -> None:
        """Connect and start working: stream, outbox and assistant."""
        if self._session is None:
            return
        if self.mode == "local":
            url = await self._start_local_relay()
            if self._session.relay_url != url:
                self._session = msgspec.structs.replace(self._session, relay_url=url)
        self.client.base_url = self._session.relay_url
        self.client.token = self._session.token
        if self._session.device_id is None:
            device = await self._call(self.client.register_device(_device_name()))
            self._session = msgspec.structs.replace(self._session, device_id=device.id)
            await self.store.set_identity(self._session.business_id, device.id)
        await self.credentials.save(self._session)
        if self._sync is None:
            assert self._session.device_id is not None
            self._sync = EventSync(self.store, self.client, self._session.device_id)
        self._sync.start()
        self.outbox.start()
        self.assistant.start()
        if self._unsubscribe is None:
            self._unsubscribe = self.store.changes.subscribe(self._on_changes)
        self._confirm_erasures()
        if self._resync is None and self.settings.resync_hours > 0:
            self._resync = asyncio.get_running_loop().create_task(
                self._resync_sites(), name="clientora-site-resync"
            )

    async def _resync_sites(self) -> None:
        """Re-fetch imported websites on a schedule; only changed pages are re-indexed."""
        while True:
            await asyncio.sleep(self.settings.resync_hours * 3600)
            report = await self.kb.resync_sites()
            log.info(
                "websites re-synced",
                extra={"changed": report.ok_count, "failed": len(report.failed)},
            )

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(isinstance(c, ErasureApplied) for c in changes):
            self._confirm_erasures()

    def _confirm_erasures(self) -> None:
        """Send the relay what was erased here, for the customer's deletion receipt."""
        if self._confirming is None or self._confirming.done():
            self._confirming = asyncio.get_running_loop().create_task(
                self._send_confirmations(), name="clientora-erasure-confirmations"
            )

    async def _send_confirmations(self) -> None:
        if self._session is None or self._session.device_id is None:
            return
        for request_id, counts in await self.store.unconfirmed_erasures():
            try:
                await self.client.confirm_erasure(request_id, self._session.device_id, counts)
            except RelayError as exc:
                log.warning("erasure not confirmed yet", extra={"reason": exc.code})
                return
            await self.store.erasure_confirmed(request_id)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in (self._confirming, self._resync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.assistant.stop()
        await self.outbox.stop()
        if self._sync is not None:
            await self._sync.stop()
        if self._llm is not None:
            await self._llm.aclose()
        await self.client.aclose()
        await self.kb.close()
        if isinstance(self.kb.embedder, OpenAIEmbedder):
            await self.kb.embedder.aclose()
        await self.store.close()
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
            self._local = None

    # ---- accounts -------------------------------------------------------------------

    async def run_locally(self, shop_name: str) -> None:
        """Zero set-up: a relay on this computer, a local account, and a test channel."""
        await self._save_settings(
            msgspec.structs.replace(
                self.settings,
                relay=RelaySettings(mode="embedded"),
                profile=msgspec.structs.replace(self.settings.profile, name=shop_name),
            )
        )
        url = await self._start_local_relay()
        self.client.base_url = url
        account = await self._local_account()
        try:
            session = await self.client.signup(
                SignUp(
                    business_name=shop_name,
                    name=shop_name,
                    email=account.email,
                    password=account.password,
                )
            )
        except RelayError as exc:
            if exc.code != "email_taken":
                raise EngineError(exc.message) from None
            session = await self._call(self.client.login(account.email, account.password))
        await self._remember(url, session, account.email)
        await self.start()
        if self.test_channel_id is None:
            channel = await self._call(
                self.client.connect_channel(ConnectChannel(platform="webchat", name="Test channel"))
            )
            self.test_channel_id = channel.id
            await asyncio.to_thread((self.data_dir / "test-channel").write_text, channel.id)

    async def sign_in(self, relay_url: str, email: str, password: str) -> None:
        await self.stop_sync()
        self.client.base_url = relay_url
        await self._use_remote(
            relay_url, email, await self._call(self.client.login(email, password))
        )

    async def sign_up(
        self, relay_url: str, business_name: str, name: str, email: str, password: str
    ) -> None:
        await self.stop_sync()
        self.client.base_url = relay_url
        data = SignUp(business_name=business_name, name=name, email=email, password=password)
        await self._use_remote(relay_url, email, await self._call(self.client.signup(data)))

    async def _use_remote(self, relay_url: str, email: str, session: Session) -> None:
        relay = RelaySettings(mode="remote", url=relay_url, email=email)
        await self._save_settings(msgspec.structs.replace(self.settings, relay=relay))
        await self._remember(relay_url, session, email)
        await self.start()

    async def sign_out(self) -> None:
        with contextlib.suppress(RelayError):
            await self.client.logout()
        await self.stop_sync()
        await self.credentials.clear()
        self._session = None

    async def stop_sync(self) -> None:
        await self.assistant.stop()
        await self.outbox.stop()
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None

    async def _remember(self, url: str, session: Session, email: str) -> None:
        identity = await self.store.identity()
        same_business = identity.business_id in (None, session.business_id)
        self._session = SavedSession(
            relay_url=url,
            token=session.token,
            expires_at_ms=session.expires_at_ms,
            business_id=session.business_id,
            user_id=session.user_id,
            email=email,
            device_id=identity.device_id if same_business else None,
        )
        self.client.token = session.token
        await self.credentials.save(self._session)

    async def _start_local_relay(self) -> str:
        if self._local is None:
            if self._local_relay_factory is None:
                raise EngineError("This build cannot run a relay on this computer.")
            self._local = self._local_relay_factory(
                self.data_dir / "relay", self.settings.relay.embedded_port
            )
        try:
            return await asyncio.to_thread(self._local.start)
        except (OSError, RuntimeError) as exc:
            raise EngineError(f"The built-in relay could not start: {exc}") from None

    async def _local_account(self) -> _LocalAccount:
        # The local relay's database sits beside this file: it protects nothing more.
        path = self.data_dir / "relay" / "local-account.json"
        if path.exists():
            return msgspec.json.decode(await asyncio.to_thread(path.read_bytes), type=_LocalAccount)
        account = _LocalAccount(
            f"owner-{uuid.uuid4().hex[:8]}@this-computer.local", secrets.token_urlsafe(24)
        )
        await asyncio.to_thread(settings_file.write_private, path, msgspec.json.encode(account))
        return account

    # ---- conversations --------------------------------------------------------------

    async def approve_draft(self, draft_id: int, text: str | None = None) -> None:
        draft = await self.store.draft(draft_id)
        if draft is None or draft.state != "pending":
            raise EngineError("This draft is no longer waiting for approval.")
        reply = (text if text is not None else draft.text).strip()
        if not reply:
            raise EngineError("The reply is empty.")
        if text is not None and text != draft.text:
            await self.store.edit_draft(draft_id, reply)
        await self.outbox.send(draft.conversation_id, reply, draft_id=draft_id)

    async def discard_draft(self, draft_id: int) -> None:
        await self.store.discard_draft(draft_id)

    async def regenerate(self, conversation_id: int) -> None:
        outcome = await self.assistant.draft(conversation_id, force=True)
        if outcome is None:
            raise EngineError("There is no customer message waiting for an answer here.")

    async def send_manual(self, conversation_id: int, text: str) -> None:
        if not text.strip():
            raise EngineError("Write something first.")
        await self.outbox.send(conversation_id, text.strip())

    async def retry_message(self, message_id: int) -> None:
        await self.outbox.retry(message_id)

    async def hand_back(self, conversation_id: int) -> None:
        await self.store.resume_assistant(conversation_id)
        self.assistant.schedule(conversation_id, delay_s=0)

    # ---- channels -------------------------------------------------------------------

    async def connect_channel(self, data: ConnectChannel) -> ChannelInfo:
        info = await self._call(self.client.connect_channel(data))
        await self.store.replace_channels(await self._call(self.client.channels()))
        return info

    async def disconnect_channel(self, channel_id: str) -> None:
        await self._call(self.client.disconnect_channel(channel_id))
        await self.store.replace_channels(await self._call(self.client.channels()))
        if channel_id == self.test_channel_id:
            self.test_channel_id = None
            (self.data_dir / "test-channel").unlink(missing_ok=True)

    # Connect with Facebook: start_meta_login -> the UI opens login_url in the system
    # browser -> wait_meta_assets -> the owner picks -> connect_meta_assets.

    async def start_meta_login(self) -> MetaLoginStarted:
        """A single-use Connect with Facebook link for this device (``login_url``)."""
        if self._session is None or self._session.device_id is None:
            raise EngineError("Sign in first.")
        return await self._call(self.client.start_meta_login(self._session.device_id))

    async def meta_assets(self, login_id: str) -> MetaLoginState:
        """Where the sign-in stands; ``assets`` (no tokens) once the browser is done."""
        return await self._call(self.client.meta_login(login_id))

    async def wait_meta_assets(
        self, login_id: str, *, timeout_s: float = 600.0, interval_s: float = 1.0
    ) -> MetaLoginState:
        """Wait for the browser part: the state to pick from; EngineError in plain words when
        the owner cancelled, allowed nothing usable, or the link expired."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            state = await self.meta_assets(login_id)
            if state.status == "failed":
                raise EngineError(
                    state.message or "The Facebook sign-in did not work; start again."
                )
            if state.status != "pending":
                return state
            if loop.time() >= deadline:
                raise EngineError(
                    "The Facebook sign-in was not finished in the browser; start again."
                )
            await asyncio.sleep(interval_s)

    async def connect_meta_assets(self, login_id: str, picks: Sequence[str]) -> list[ChannelInfo]:
        """Connect the picked Pages, Instagram accounts and numbers: all of them, or none."""
        infos = await self._call(self.client.connect_meta_assets(login_id, list(picks)))
        await self.store.replace_channels(await self._call(self.client.channels()))
        return infos

    async def channel_health(self, channel_id: str) -> ChannelHealth:
        """The channel's health as the relay last saw it, with the fix for each problem."""
        return await self._call(self.client.channel_health(channel_id))

    async def check_channel(self, channel_id: str) -> ChannelHealth:
        """Have the relay check the channel with its platform now."""
        health = await self._call(self.client.check_channel(channel_id))
        await self.store.replace_channels(await self._call(self.client.channels()))
        return health

    async def resubscribe(self, channel_id: str) -> ChannelHealth:
        """The "resubscribe" fix: the platform sends the channel's messages here again."""
        health = await self._call(self.client.resubscribe(channel_id))
        await self.store.replace_channels(await self._call(self.client.channels()))
        return health

    async def set_policy(self, channel_id: str, policy: ChannelPolicy) -> None:
        policies = {**self.settings.policies, channel_id: policy}
        await self._save_settings(msgspec.structs.replace(self.settings, policies=policies))

    async def simulate_customer(
        self, text: str, *, customer: str = "Test customer", visitor: str = TEST_VISITOR
    ) -> None:
        """Write into the built-in test channel as if a customer did (each ``visitor`` is a
        customer of its own, with a conversation of its own)."""
        if self.test_channel_id is None:
            raise EngineError("There is no test channel; run on this computer to get one.")
        await self._call(self.client.webchat_say(self.test_channel_id, visitor, text, customer))

    # ---- knowledge ------------------------------------------------------------------

    async def ask(self, question: str) -> AskResult:
        """What the assistant would retrieve and draft for a test question."""
        hits = await self.kb.search(question, k=8)
        request = DraftRequest(
            profile=self.settings.profile,
            platform="messenger",
            turns=[Turn(role="customer", text=question, timestamp_ms=0)],
            hits=hits,
        )
        return AskResult(hits, await self._drafter().draft(request))

    # ---- settings, usage, stats -----------------------------------------------------

    async def update_settings(self, settings: AppSettings) -> None:
        embeddings_changed = settings.embeddings != self.settings.embeddings
        ai_changed = settings.ai != self.settings.ai
        await self._save_settings(settings)
        if ai_changed and self._llm is not None:
            await self._llm.aclose()
            self._llm = None
        if embeddings_changed:
            log.info("embedding settings changed; they apply when the app restarts")

    async def _save_settings(self, settings: AppSettings) -> None:
        self.settings = settings
        path = self.data_dir / "settings.json"
        await asyncio.to_thread(settings_file.save, path, settings)
        await asyncio.to_thread(settings_file.save_ai_key, self.data_dir, settings.ai.api_key)

    async def usage(self, first: date, last: date) -> UsageReport:
        raw = await self._call(self.client.usage(first.isoformat(), last.isoformat()))
        days = [
            DayUsage(
                day=str(row.get("day", "")),
                inbound=int(row.get("inbound_messages", 0)),
                outbound_auto=int(row.get("outbound_auto", 0)),
                outbound_manual=int(row.get("outbound_manual", 0)),
                ai_tokens=int(row.get("prompt_tokens", 0)) + int(row.get("completion_tokens", 0)),
                cost_usd=float(row.get("cost_usd", 0.0)),
            )
            for row in raw.rows
        ]
        return UsageReport(
            days=days, limits=dict(raw.plan), month=raw.month, resets_on=raw.resets_on
        )

    async def stats(self) -> AssistantStats:
        head = self._sync.status.head if self._sync is not None else None
        return await self.store.assistant_stats(relay_head=head or 0)

    # ---- helpers --------------------------------------------------------------------

    def _drafter(self) -> Drafter:
        if not self.settings.ai_configured:
            return self._extractive
        if self._llm is None:
            self._llm = LLMDrafter(self.settings.ai)
        return self._llm

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except RelayError as exc:
            raise EngineError(exc.message) from None


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


def _device_name() -> str:
    return f"{platform.node() or 'Desktop'} ({platform.system()})"[:100]
