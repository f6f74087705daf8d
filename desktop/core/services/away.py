"""The away reply: the shop's away texts and each channel's switch, kept in step at the relay."""

from __future__ import annotations

import asyncio
import logging

from common.away import AwayMessages
from desktop.core.relay_client import RelayClient, RelayError
from desktop.core.settings import AppSettings

from .preferences import Preferences

__all__ = ["AwayService", "away_messages"]

log = logging.getLogger("clientora.away")


def away_messages(settings: AppSettings) -> AwayMessages:
    """The profile's away text per language tag; the shop's first language answers a
    message whose language has none (a bare "sr" means its Latin set)."""
    profile = settings.profile
    first = profile.languages[0] if profile.languages else "en"
    return AwayMessages(
        default_language="sr-Latn" if first == "sr" else first,
        messages={tag: m.away for tag, m in profile.messages.items() if m.away.strip()},
    )


class AwayService:
    """Pushes the texts and switches to the relay when they change and on every start;
    a push that fails (offline) is tried again at the next start."""

    def __init__(self, preferences: Preferences, client: RelayClient) -> None:
        self.preferences = preferences
        self.client = client
        self._task: asyncio.Task[None] | None = None
        preferences.on_change(self._changed)

    def start(self) -> None:
        """Sync in the background (once the session is connected, and after each change);
        a newer sync replaces one still running, so the last settings win."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self.sync(), name="away sync")

    async def sync(self) -> None:
        settings = self.preferences.settings
        try:
            await self.client.set_away_messages(away_messages(settings))
            for channel_id, switch in settings.away.items():
                await self.client.set_away_channel(channel_id, switch)
        except RelayError as exc:
            log.warning("away settings not synced", extra={"code": exc.code})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _changed(self, old: AppSettings, new: AppSettings) -> None:
        if self.client.token is not None and (
            old.away != new.away or away_messages(old) != away_messages(new)
        ):
            self.start()
