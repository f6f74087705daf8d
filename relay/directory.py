"""Which channel a webhook belongs to, and its decrypted credentials, kept in memory.

Webhooks name a page, account or phone number; the directory maps that to our
channel and business without a database read per item. It is refreshed whenever a
channel is connected or removed through this process. When other processes share the
database it is also reloaded every few seconds (relay/app.py), and at once when a
lookup misses (``fresh``), so a channel connected through another process routes here
from its first webhook.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import msgspec

from common.channels import Platform
from relay.crypto import Keyring
from relay.store import ChannelRow

__all__ = ["ChannelDirectory", "Route", "decode_credentials", "encode_credentials"]

#: A lookup that misses reloads the directory at most this often (unknown pages keep
#: sending webhooks for a while after a disconnect).
MISS_RELOAD_S = 0.5


@dataclass(frozen=True, slots=True)
class Route:
    channel_id: str
    business_id: str
    platform: Platform
    external_id: str
    name: str | None
    account_id: str | None = None


def encode_credentials(
    keyring: Keyring, channel_id: str, secrets: dict[str, str]
) -> tuple[str, bytes]:
    """Encrypt a channel's credentials; the channel id is bound in as associated data."""
    return keyring.encrypt(msgspec.json.encode(secrets), channel_id.encode())


def decode_credentials(keyring: Keyring, row: ChannelRow) -> dict[str, str]:
    return msgspec.json.decode(
        keyring.decrypt(row.key_id, row.secret, row.id.encode()), type=dict[str, str]
    )


class ChannelDirectory:
    def __init__(self, loader: Callable[[], Awaitable[list[ChannelRow]]] | None = None) -> None:
        """``loader`` reads every channel; give it when other processes change channels."""
        self._by_external: dict[tuple[str, str], Route] = {}
        self._by_id: dict[str, Route] = {}
        #: WhatsApp Business Account id -> its numbers' channels (account-level webhooks).
        self._by_account: dict[str, tuple[str, ...]] = {}
        self._loader = loader
        self._loaded_at = 0.0
        #: Counts lookups that found nothing and changes made here (see ``reload``).
        self.misses = 0
        self.changes = 0

    @property
    def shared(self) -> bool:
        """Other processes may change channels (a ``loader`` was given)."""
        return self._loader is not None

    async def reload(self) -> None:
        """Read every channel again, unless this process changed one meanwhile (its own
        change is newer than what was read; the next reload takes it)."""
        if self._loader is None:
            return
        before = self.changes
        self._loaded_at = time.monotonic()
        rows = await self._loader()
        if self.changes == before:
            self.load(rows)

    async def fresh(self) -> bool:
        """After a lookup missed: reload if allowed now; True if it did."""
        if self._loader is None or time.monotonic() - self._loaded_at < MISS_RELOAD_S:
            return False
        await self.reload()
        return True

    def load(self, rows: Iterable[ChannelRow]) -> None:
        self._by_external.clear()
        self._by_id.clear()
        self._by_account.clear()
        for row in rows:
            self.add(row)

    def add(self, row: ChannelRow) -> None:
        self.changes += 1
        route = Route(
            row.id, row.business_id, row.platform, row.external_id, row.name, row.account_id
        )
        self._by_external[(row.platform, row.external_id)] = route
        self._by_id[row.id] = route
        if row.account_id:
            held = self._by_account.get(row.account_id, ())
            self._by_account[row.account_id] = (*(c for c in held if c != row.id), row.id)

    def remove(self, channel_id: str) -> None:
        self.changes += 1
        route = self._by_id.pop(channel_id, None)
        if route is not None:
            self._by_external.pop((route.platform, route.external_id), None)
            if route.account_id:
                held = tuple(c for c in self._by_account[route.account_id] if c != channel_id)
                if held:
                    self._by_account[route.account_id] = held
                else:
                    self._by_account.pop(route.account_id, None)

    def resolve(self, platform: Platform, external_id: str) -> str | None:
        route = self._by_external.get((platform, external_id))
        if route is None:
            self.misses += 1
            return None
        return route.channel_id

    def accounts(self, account_id: str) -> tuple[str, ...]:
        """The channels of a WhatsApp Business Account (empty, and counted a miss, if none)."""
        found = self._by_account.get(account_id, ())
        if not found:
            self.misses += 1
        return found

    def route(self, channel_id: str) -> Route | None:
        return self._by_id.get(channel_id)

    async def route_fresh(self, channel_id: str) -> Route | None:
        """``route``, reloading first if it misses and other processes change channels."""
        found = self._by_id.get(channel_id)
        if found is None and await self.fresh():
            found = self._by_id.get(channel_id)
        return found
