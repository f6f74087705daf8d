"""Each channel's last event and last send, noted in memory and saved now and then.

The webhook path calls :meth:`ChannelActivity.saw_events` for every routed item: a dict
update, no database write, so ingest throughput does not change. The health task drains
what was noted into the store every ``health_flush_s`` (and at shutdown); a health answer
merges what is stored with what this process has noted since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ChannelActivity", "SendOutcome"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The last send attempt's result: ``error`` is its SendErrorCode when it failed."""

    at_ms: int
    ok: bool
    error: str | None = None


class ChannelActivity:
    """Per-channel times since the last drain; only ever touched from the event loop."""

    def __init__(self) -> None:
        self._events: dict[str, int] = {}
        self._sends: dict[str, SendOutcome] = {}

    def saw_events(self, channel_ids: Iterable[str], at_ms: int) -> None:
        events = self._events
        for channel_id in channel_ids:
            if events.get(channel_id, 0) < at_ms:
                events[channel_id] = at_ms

    def sent(self, channel_id: str, outcome: SendOutcome) -> None:
        known = self._sends.get(channel_id)
        if known is None or known.at_ms <= outcome.at_ms:
            self._sends[channel_id] = outcome

    def last_event(self, channel_id: str) -> int | None:
        return self._events.get(channel_id)

    def last_send(self, channel_id: str) -> SendOutcome | None:
        return self._sends.get(channel_id)

    def drain(self) -> tuple[dict[str, int], dict[str, SendOutcome]]:
        """Everything noted since the last drain, which is forgotten here."""
        events, self._events = self._events, {}
        sends, self._sends = self._sends, {}
        return events, sends

    def restore(self, events: dict[str, int], sends: dict[str, SendOutcome]) -> None:
        """Put back a drain that could not be saved, keeping anything newer."""
        for channel_id, at_ms in events.items():
            self.saw_events((channel_id,), at_ms)
        for channel_id, outcome in sends.items():
            self.sent(channel_id, outcome)

    def forget(self, channel_id: str) -> None:
        self._events.pop(channel_id, None)
        self._sends.pop(channel_id, None)
