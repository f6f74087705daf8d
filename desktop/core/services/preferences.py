"""The app's settings: the current copy, saved to the data folder when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from desktop.core import settings as settings_file
from desktop.core.settings import AppSettings

__all__ = ["Preferences"]

#: Called with the old and the new settings after a change is saved.
SettingsListener = Callable[[AppSettings, AppSettings], Awaitable[None]]


class Preferences:
    """Holds :class:`AppSettings` for every service; :meth:`update` saves and tells them."""

    def __init__(self, data_dir: Path, settings: AppSettings) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self._listeners: list[SettingsListener] = []

    @classmethod
    async def load(cls, data_dir: Path) -> Preferences:
        """Read ``settings.json`` and the AI key kept apart from it."""
        settings = await asyncio.to_thread(settings_file.load, data_dir / "settings.json")
        key = await asyncio.to_thread(settings_file.load_ai_key, data_dir)
        if key:
            ai = msgspec.structs.replace(settings.ai, api_key=key)
            settings = msgspec.structs.replace(settings, ai=ai)
        return cls(data_dir, settings)

    def on_change(self, listener: SettingsListener) -> None:
        self._listeners.append(listener)

    async def update(self, settings: AppSettings) -> None:
        """Save new settings; listeners see the old and the new copy."""
        old = self.settings
        self.settings = settings
        await asyncio.to_thread(settings_file.save, self.data_dir / "settings.json", settings)
        await asyncio.to_thread(settings_file.save_ai_key, self.data_dir, settings.ai.api_key)
        for listener in self._listeners:
            await listener(old, settings)
