"""``clientora-relay replay``: post saved webhook payloads to a running relay, show what they made.

Each file is posted as it is, signed as the platform would sign it (Meta: the app
secret; Viber: the bot token of ``--viber-channel``), to the relay at ``url``. The
command opens the relay's own store (the same settings the relay runs with) to read the
events those posts appended, and prints each as one JSON line; items the relay ignores
(unknown accounts, fields that are no conversation) are printed with their reason.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import httpx
import msgspec

from common.events import EVENT_DECODER
from relay.app import create_app
from relay.directory import decode_credentials
from relay.services import Services
from relay.settings import Settings
from relay.webhooks.meta import parse_meta
from relay.webhooks.parsing import PayloadError, decode_object
from relay.webhooks.signatures import sign_meta, sign_viber

__all__ = ["ReplayError", "replay"]


class ReplayError(Exception):
    """A file or an option the replay cannot use; the message says which and why."""


async def replay(
    settings: Settings,
    files: Sequence[Path],
    url: str,
    viber_channel: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Post every file in turn; returns how many the relay did not answer with 200."""
    app = create_app(settings)
    failed = 0
    async with app.lifespan(), httpx.AsyncClient(timeout=30) as http:
        services: Services = app.state.services
        for path in files:
            try:
                body = path.read_bytes()
                root = decode_object(body)
            except (OSError, PayloadError) as exc:
                raise ReplayError(f"{path}: {exc}") from None
            if "event" in root and "object" not in root:
                target, headers, channels, notes = await _viber(services, body, viber_channel)
            else:
                target, headers, channels, notes = _meta(services, settings, body)
            businesses = {
                route.business_id
                for channel_id in channels
                if (route := services.directory.route(channel_id)) is not None
            }
            heads = {business: await services.store.head(business) for business in businesses}
            answer = await http.post(url.rstrip("/") + target, content=body, headers=headers)
            print(f"{path}: HTTP {answer.status_code}", file=out)
            if answer.status_code != 200:
                failed += 1
            made = 0
            for business, head in heads.items():
                for stored in await services.store.events_after(business, head, 1000):
                    event = EVENT_DECODER.decode(stored.payload)
                    if getattr(event, "channel_id", None) in channels:
                        print(f"  {msgspec.json.encode(event).decode()}", file=out)
                        made += 1
            for note in notes:
                print(f"  ignored: {note}", file=out)
            if not made and not notes and answer.status_code == 200:
                print("  no new events (repeats of stored ones, or nothing to store)", file=out)
    return failed


def _meta(
    services: Services, settings: Settings, body: bytes
) -> tuple[str, dict[str, str], set[str], list[str]]:
    if not settings.meta_app_secret:
        raise ReplayError("CLIENTORA_RELAY_META_APP_SECRET is not set: cannot sign Meta payloads")
    try:
        local = parse_meta(body, services.directory.resolve, None, services.directory.accounts)
    except PayloadError as exc:
        return "/webhooks/meta", _meta_headers(body, settings), set(), [str(exc)]
    channels = {channel for e in local.events if (channel := getattr(e, "channel_id", None))}
    notes = [str(ignored) for ignored in local.ignored]
    return "/webhooks/meta", _meta_headers(body, settings), channels, notes


def _meta_headers(body: bytes, settings: Settings) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign_meta(body, settings.meta_app_secret),
    }


async def _viber(
    services: Services, body: bytes, channel_id: str | None
) -> tuple[str, dict[str, str], set[str], list[str]]:
    if channel_id is None:
        raise ReplayError("a Viber callback needs --viber-channel CHANNEL_ID")
    row = await services.store.channel_by_id(channel_id)
    if row is None or row.platform != "viber":
        raise ReplayError(f"no Viber channel {channel_id}")
    token = decode_credentials(services.keyring, row).get("auth_token", "")
    headers = {"X-Viber-Content-Signature": sign_viber(body, token)}
    return f"/webhooks/viber/{channel_id}", headers, {channel_id}, []
