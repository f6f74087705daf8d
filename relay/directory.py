"""Which channel a webhook belongs to, and its decrypted credentials, kept in memory.

Webhooks name a page, account or phone number; the directory maps that to our
channel and business without a database read per item. It is refreshed whenever a
channel is connected or removed through this process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from common.channels import Platform
from relay.crypto import Keyring
from relay.store import ChannelRow

__all__ = ["ChannelDirectory", "Route", "decode_credentials", "encode_credentials"]


@dataclass(frozen=True, slots=True)
class Route:
    channel_id: str
    business_id: str
    platform: Platform
    external_id: str
    name: str | None


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
    def __init__(self) -> None:
        self._by_external: dict[tuple[str, str], Route] = {}
        self._by_id: dict[str, Route] = {}

    def load(self, rows: Iterable[ChannelRow]) -> None:
        self._by_external.clear()
        self._by_id.clear()
        for row in rows:
            self.add(row)

    def add(self, row: ChannelRow) -> None:
        route = Route(row.id, row.business_id, row.platform, row.external_id, row.name)
        self._by_external[(row.platform, row.external_id)] = route
        self._by_id[row.id] = route

    def remove(self, channel_id: str) -> None:
        route = self._by_id.pop(channel_id, None)
        if route is not None:
            self._by_external.pop((route.platform, route.external_id), None)

    def resolve(self, platform: Platform, external_id: str) -> str | None:
        route = self._by_external.get((platform, external_id))
        return route.channel_id if route else None

    def route(self, channel_id: str) -> Route | None:
        return self._by_id.get(channel_id)
