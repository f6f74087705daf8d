"""The owner's session and this device: sign in, up and out, "run on this computer", the
device's registration, the event stream, and the erasure receipts the device owes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import msgspec

from common.protocol import Session, SignUp
from desktop.core import settings as settings_file
from desktop.core.assistant import Assistant
from desktop.core.credentials import CredentialStore, SavedSession
from desktop.core.outbox import Outbox
from desktop.core.relay_client import RelayClient, RelayError
from desktop.core.settings import RelaySettings
from desktop.core.store import Change, ErasureApplied, Store
from desktop.core.sync import EventSync

from .errors import EngineError, plainly
from .preferences import Preferences

__all__ = ["LocalRelay", "LocalRelayFactory", "SessionService"]

log = logging.getLogger(__name__)


class LocalRelay(Protocol):
    """A relay the app hosts itself ("run on this computer")."""

    url: str

    def start(self) -> str: ...
    def stop(self) -> None: ...


LocalRelayFactory = Callable[[Path, int], LocalRelay]


class _LocalAccount(msgspec.Struct, frozen=True):
    email: str
    password: str


class SessionService:
    """Signs in and keeps this device connected: stream, outbox and assistant run while
    signed in. ``on_local_ready`` runs after "run on this computer" signed in (the
    channels service makes the test channel then)."""

    def __init__(
        self,
        preferences: Preferences,
        store: Store,
        client: RelayClient,
        outbox: Outbox,
        assistant: Assistant,
        credentials: CredentialStore,
        local_relay: LocalRelayFactory | None,
        saved: SavedSession | None,
    ) -> None:
        self.preferences = preferences
        self.store = store
        self.client = client
        self.outbox = outbox
        self.assistant = assistant
        self.credentials = credentials
        self.on_local_ready: Callable[[], Awaitable[None]] | None = None
        #: Run each time the session starts working (after the stream started).
        self.on_started: list[Callable[[], None]] = []
        self._local_relay_factory = local_relay
        self._local: LocalRelay | None = None
        self._session = saved
        self._sync: EventSync | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._confirming: asyncio.Task[None] | None = None

    @property
    def signed_in(self) -> bool:
        return self._session is not None

    @property
    def mode(self) -> Literal["local", "remote"] | None:
        if self._session is None:
            return None
        return "local" if self.preferences.settings.relay.mode == "embedded" else "remote"

    @property
    def device_id(self) -> str | None:
        return self._session.device_id if self._session is not None else None

    @property
    def relay_head(self) -> int:
        """The newest sequence number the relay reported (0 when not connected yet)."""
        return (self._sync.status.head or 0) if self._sync is not None else 0

    # ---- running ----------------------------------------------------------------------

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
            device = await plainly(self.client.register_device(_device_name()))
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
        for started in self.on_started:
            started()

    async def stop_sync(self) -> None:
        await self.assistant.stop()
        await self.outbox.stop()
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._confirming is not None:
            self._confirming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._confirming
        await self.stop_sync()
        await self.client.aclose()
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
            self._local = None

    # ---- accounts -----------------------------------------------------------------------

    async def run_locally(self, shop_name: str) -> None:
        """Zero set-up: a relay on this computer, a local account, and a test channel."""
        settings = self.preferences.settings
        await self.preferences.update(
            msgspec.structs.replace(
                settings,
                relay=RelaySettings(mode="embedded"),
                profile=msgspec.structs.replace(settings.profile, name=shop_name),
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
            session = await plainly(self.client.login(account.email, account.password))
        await self._remember(url, session, account.email)
        await self.start()
        if self.on_local_ready is not None:
            await self.on_local_ready()

    async def sign_in(self, relay_url: str, email: str, password: str) -> None:
        await self.stop_sync()
        self.client.base_url = relay_url
        await self._use_remote(relay_url, email, await plainly(self.client.login(email, password)))

    async def sign_up(
        self, relay_url: str, business_name: str, name: str, email: str, password: str
    ) -> None:
        await self.stop_sync()
        self.client.base_url = relay_url
        data = SignUp(business_name=business_name, name=name, email=email, password=password)
        await self._use_remote(relay_url, email, await plainly(self.client.signup(data)))

    async def sign_out(self) -> None:
        with contextlib.suppress(RelayError):
            await self.client.logout()
        await self.stop_sync()
        await self.credentials.clear()
        self._session = None

    async def _use_remote(self, relay_url: str, email: str, session: Session) -> None:
        relay = RelaySettings(mode="remote", url=relay_url, email=email)
        await self.preferences.update(
            msgspec.structs.replace(self.preferences.settings, relay=relay)
        )
        await self._remember(relay_url, session, email)
        await self.start()

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
                self.preferences.data_dir / "relay", self.preferences.settings.relay.embedded_port
            )
        try:
            return await asyncio.to_thread(self._local.start)
        except (OSError, RuntimeError) as exc:
            raise EngineError(f"The built-in relay could not start: {exc}") from None

    async def _local_account(self) -> _LocalAccount:
        # The local relay's database sits beside this file: it protects nothing more.
        path = self.preferences.data_dir / "relay" / "local-account.json"
        if path.exists():
            return msgspec.json.decode(await asyncio.to_thread(path.read_bytes), type=_LocalAccount)
        account = _LocalAccount(
            f"owner-{uuid.uuid4().hex[:8]}@this-computer.local", secrets.token_urlsafe(24)
        )
        await asyncio.to_thread(settings_file.write_private, path, msgspec.json.encode(account))
        return account

    # ---- erasure receipts -----------------------------------------------------------------

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


def _device_name() -> str:
    return f"{platform.node() or 'Desktop'} ({platform.system()})"[:100]
