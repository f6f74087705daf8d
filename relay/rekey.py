"""``clientora-relay rekey``: re-encrypt every stored secret under the current master key.

After it reports nothing left under an old key, that key can be removed from
``CLIENTORA_RELAY_MASTER_KEYS``. A secret no known key opens is left as it is and
counted: its channel answers sends with ``token_invalid`` until it is reconnected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from relay.crypto import CredentialError, Keyring
from relay.onboarding import listing_aad
from relay.store import Store

__all__ = ["RekeyCounts", "rekey"]

log = logging.getLogger("clientora.relay.rekey")


@dataclass(frozen=True, slots=True)
class RekeyCounts:
    #: Secrets now under the current key that were under another.
    resealed: int = 0
    #: Secrets already under the current key.
    current: int = 0
    #: Secrets no configured key opens (their channels need reconnecting).
    unreadable: int = 0
    #: Secrets that changed while this ran (a reconnect): already under the current key.
    changed: int = 0


async def rekey(store: Store, keyring: Keyring) -> RekeyCounts:
    """Re-encrypt channel credentials and "Connect with Facebook" listings; each row is
    replaced only if it still holds what was read, so a reconnect meanwhile wins."""
    counts: dict[str, int] = dict.fromkeys(("resealed", "current", "unreadable", "changed"), 0)
    for channel in await store.all_channels():
        aad = channel.id.encode()
        outcome = _reseal(keyring, channel.key_id, channel.secret, aad)
        if isinstance(outcome, tuple):
            done = await store.reseal_channel(channel.id, channel.secret, *outcome)
            outcome = "resealed" if done else "changed"
        elif outcome == "unreadable":
            log.warning(
                "a channel credential cannot be decrypted", extra={"channel_id": channel.id}
            )
        counts[outcome] += 1
    for login in await store.sealed_meta_logins():
        assert login.listing is not None  # only sealed logins are listed
        outcome = _reseal(keyring, login.key_id, login.listing, listing_aad(login.id))
        if isinstance(outcome, tuple):
            done = await store.reseal_meta_login(login.id, login.listing, *outcome)
            outcome = "resealed" if done else "changed"
        counts[outcome] += 1
    return RekeyCounts(**counts)


def _reseal(keyring: Keyring, key_id: str, blob: bytes, aad: bytes) -> tuple[str, bytes] | str:
    """The secret under the current key, or why it stays: ``current``, ``unreadable``."""
    if key_id == keyring.current:
        return "current"
    try:
        plain = keyring.decrypt(key_id, blob, aad)
    except CredentialError:
        return "unreadable"
    return keyring.encrypt(plain, aad)
