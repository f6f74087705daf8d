"""The change feed: typed "what changed" notes the store emits after each commit.

Listeners are plain callables run on the event loop's thread, after the data is
committed, so a listener may read the store at once. A listener gets every note of one
commit together (duplicates removed, order kept); it must be quick and must not raise
(an exception is logged and the other listeners still run). Qt code wraps a listener
that emits a signal; the autopilot wraps one that schedules a task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import msgspec

__all__ = [
    "Change",
    "ChangeFeed",
    "ChangeListener",
    "ChannelsChanged",
    "ConversationChanged",
    "ConversationRemoved",
    "DraftChanged",
    "ErasureApplied",
    "MessageAdded",
    "MessageUpdated",
    "SyncStatusChanged",
    "UsageChanged",
]

log = logging.getLogger(__name__)


class ConversationChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Something shown in the conversation list changed (summary, status, labels...)."""

    conversation_id: int


class ConversationRemoved(msgspec.Struct, frozen=True, kw_only=True):
    """The conversation and everything in it were erased."""

    conversation_id: int


class MessageAdded(msgspec.Struct, frozen=True, kw_only=True):
    """A new message; ``inbound``: the customer wrote (the autopilot drafts on these)."""

    conversation_id: int
    message_id: int
    inbound: bool


class MessageUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """A message's status, text, reaction or error changed."""

    conversation_id: int
    message_id: int


class DraftChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A draft was added or changed state (the approval queue reacts to this)."""

    conversation_id: int
    draft_id: int


class ErasureApplied(msgspec.Struct, frozen=True, kw_only=True):
    """A customer was erased here; the relay wants a confirmation for its receipt."""

    request_id: str


class ChannelsChanged(msgspec.Struct, frozen=True, kw_only=True):
    """The channel list or a channel's health changed; ``alert`` is a new notice from the
    platform that asks something of the owner (a warning or problem), in plain words."""

    alert: str | None = None


class UsageChanged(msgspec.Struct, frozen=True, kw_only=True):
    """The relay warned about a usage metric."""

    metric: str


class SyncStatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    """The event stream's state changed (see ``desktop.core.sync.SyncStatus``).

    ``state`` ``signed_out`` and ``device_unknown`` need the user: sign in again, or
    register this computer again. ``offline`` retries on its own after ``retry_in_s``.
    """

    state: Literal[
        "stopped", "connecting", "catching_up", "live", "offline", "signed_out", "device_unknown"
    ]
    detail: str | None = None
    retry_in_s: float | None = None
    cursor: int = 0
    head: int | None = None


Change = (
    ConversationChanged
    | ConversationRemoved
    | MessageAdded
    | MessageUpdated
    | DraftChanged
    | ChannelsChanged
    | ErasureApplied
    | UsageChanged
    | SyncStatusChanged
)
ChangeListener = Callable[[Sequence[Change]], None]


class ChangeFeed:
    """Listeners for :data:`Change` batches; ``emit`` is called on the loop thread."""

    def __init__(self) -> None:
        self._listeners: list[ChangeListener] = []

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it again."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def emit(self, changes: Iterable[Change]) -> None:
        batch = list(dict.fromkeys(changes))  # structs are hashable: drop repeats, keep order
        if not batch:
            return
        for listener in list(self._listeners):
            try:
                listener(batch)
            except Exception:
                log.exception("change listener failed")
