"""The store's change feed as one coalesced Qt signal that every screen listens to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.core.store import (
    Change,
    ChangeFeed,
    ChannelsChanged,
    ConversationChanged,
    ConversationRemoved,
    DraftChanged,
    MessageAdded,
    MessageUpdated,
    SyncStatusChanged,
    UsageChanged,
)

__all__ = ["ChangeHub", "ChangeSet"]


@dataclass(slots=True)
class ChangeSet:
    """Everything that changed since the last notification, merged.

    ``conversations`` holds every conversation whose list entry may look different
    (a message or draft in it changed too); ``messages`` and ``drafts`` map a
    conversation to the message and draft ids that changed in it.
    """

    conversations: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)
    messages: dict[int, set[int]] = field(default_factory=dict)
    inbound: list[tuple[int, int]] = field(default_factory=list)
    drafts: dict[int, set[int]] = field(default_factory=dict)
    new_drafts: int = 0
    channels: bool = False
    #: New channel notices that ask something of the owner, in plain words.
    alerts: list[str] = field(default_factory=list)
    usage: bool = False
    sync: SyncStatusChanged | None = None

    def add(self, change: Change) -> None:
        match change:
            case ConversationChanged(conversation_id=cid):
                self.conversations.add(cid)
            case ConversationRemoved(conversation_id=cid):
                self.removed.add(cid)
                self.conversations.discard(cid)
            case MessageAdded(conversation_id=cid, message_id=mid, inbound=inbound):
                self.conversations.add(cid)
                self.messages.setdefault(cid, set()).add(mid)
                if inbound:
                    self.inbound.append((cid, mid))
            case MessageUpdated(conversation_id=cid, message_id=mid):
                self.conversations.add(cid)
                self.messages.setdefault(cid, set()).add(mid)
            case DraftChanged(conversation_id=cid, draft_id=did):
                self.conversations.add(cid)
                self.drafts.setdefault(cid, set()).add(did)
                self.new_drafts += 1
            case ChannelsChanged(alert=alert):
                self.channels = True
                if alert:
                    self.alerts.append(alert)
            case UsageChanged():
                self.usage = True
            case SyncStatusChanged():
                self.sync = change

    @property
    def empty(self) -> bool:
        return not (
            self.conversations
            or self.removed
            or self.messages
            or self.drafts
            or self.channels
            or self.usage
            or self.sync
        )


class ChangeHub(QObject):
    """Listens to a store's :class:`ChangeFeed` and emits ``changed`` at most every
    ``interval_ms``, so a burst of commits costs the screens one refresh, not hundreds."""

    changed = Signal(object)  # ChangeSet

    def __init__(
        self, feed: ChangeFeed, *, interval_ms: int = 40, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pending = ChangeSet()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        self._unsubscribe: Callable[[], None] | None = feed.subscribe(self._on_changes)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self._pending.add(change)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Emit what is pending now (tests and shutdown call this directly)."""
        self._timer.stop()
        pending, self._pending = self._pending, ChangeSet()
        if not pending.empty:
            self.changed.emit(pending)

    def detach(self) -> None:
        """Stop listening to the feed (before the store closes)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._timer.stop()
