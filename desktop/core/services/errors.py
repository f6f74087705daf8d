"""The one error the services raise to the owner: plain words, never a stack trace."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from desktop.core.relay_client import RelayError

__all__ = ["EngineError", "plainly"]

T = TypeVar("T")


class EngineError(Exception):
    """Something the owner must know, in plain words (``message``)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The relay's error code, when the words came from it (screens may act on it).
        self.code = code


async def plainly(awaitable: Awaitable[T]) -> T:
    """Await a relay call; its failure becomes an :class:`EngineError` in its own words."""
    try:
        return await awaitable
    except RelayError as exc:
        raise EngineError(exc.message, exc.code) from None
