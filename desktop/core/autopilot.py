"""When the assistant may send on its own: the per-channel policy, opening hours, shadow scoring.

Pure decisions with no I/O: the engine gathers the facts (the draft, the window, the
limits, whether the owner took over) and asks :func:`decide` what to do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from difflib import SequenceMatcher
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

from desktop.core.drafting import Draft
from desktop.core.drafting.confidence import AUTO_SEND_AT

__all__ = [
    "AGREEMENT_THRESHOLD",
    "ChannelPolicy",
    "Decision",
    "Facts",
    "Mode",
    "OpeningHours",
    "UsageLimit",
    "agreement",
    "ai_budget_resets",
    "decide",
    "sending_paused",
]

Mode = Literal["manual", "auto", "shadow"]

#: A shadow draft "would have been right" when it is at least this close to what was sent.
AGREEMENT_THRESHOLD = 0.6


class ChannelPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How much the assistant may do on one channel."""

    mode: Mode = "manual"
    #: Least confidence for an automatic send (auto mode only). The default is where the
    #: no-key drafter's answers were measured right at least 98 % of the time.
    threshold: float = AUTO_SEND_AT


@dataclass(frozen=True, slots=True)
class Facts:
    """What the engine knows when a draft is ready. ``limit_reason`` says which limit
    stops sending (with its reset date) when ``within_limits`` is False."""

    window_open: bool
    within_limits: bool
    owner_took_over: bool
    open_now: bool = True
    limit_reason: str | None = None


class UsageLimit(msgspec.Struct, frozen=True, kw_only=True):
    """One of the plan's monthly limits as the relay last reported it."""

    metric: str
    used: float
    limit: float
    #: ISO date the next period starts.
    resets_on: str

    def reached(self, today: date) -> bool:
        """Used up, and its period has not ended yet (a new month resets it)."""
        return self.limit > 0 and self.used >= self.limit and today.isoformat() < self.resets_on


#: Metrics of the relay's plans: messages it sends, and the AI gateway's budget.
SENDING_METRIC = "outbound_messages"
AI_METRICS = ("ai_tokens", "ai_cost_usd")


def sending_paused(limits: Sequence[UsageLimit], today: date) -> str | None:
    """Why automatic replies must wait because the plan's sending limit is reached, or None."""
    for item in limits:
        if item.metric == SENDING_METRIC and item.reached(today):
            return (
                f"This month's {item.limit:g} messages are used up; automatic replies resume "
                f"on {item.resets_on}."
            )
    return None


def ai_budget_resets(limits: Sequence[UsageLimit], today: date) -> date | None:
    """The day the AI gateway's used-up budget comes back, or None when it is not used up."""
    days = [
        date.fromisoformat(i.resets_on)
        for i in limits
        if i.metric in AI_METRICS and i.reached(today)
    ]
    return min(days) if days else None


@dataclass(frozen=True, slots=True)
class Decision:
    """``send``: go out now. ``wait``: queue for the owner with ``reason``.
    ``silent``: keep the draft only for scoring (shadow mode, or the owner took over)."""

    action: Literal["send", "wait", "silent"]
    reason: str | None = None


def decide(policy: ChannelPolicy, draft: Draft, facts: Facts) -> Decision:
    """The one place that says whether a draft may go out without a person."""
    if facts.owner_took_over:
        return Decision("silent", "You replied yourself; the assistant stays quiet here.")
    if policy.mode == "shadow":
        return Decision("silent", "Shadow mode: drafted for comparison only.")
    if draft.handoff:
        return Decision("wait", draft.handoff_reason or "The assistant asks a person to answer.")
    if policy.mode == "manual":
        return Decision("wait", "Manual mode: waiting for your approval.")
    if not draft.grounded:
        return Decision("wait", "The draft is not backed by the knowledge base.")
    if draft.confidence < policy.threshold:
        return Decision(
            "wait",
            f"Confidence {draft.confidence:.0%} is below this channel's {policy.threshold:.0%}.",
        )
    if not facts.window_open:
        return Decision("wait", "The reply window has closed; only a person may answer now.")
    if not facts.within_limits:
        return Decision(
            "wait",
            facts.limit_reason or "The usage limit is reached; automatic replies are paused.",
        )
    if not facts.open_now:
        return Decision("wait", "Outside opening hours: waiting for you.")
    return Decision("send")


def agreement(draft: str, sent: str) -> float:
    """How closely a draft matches what the owner actually sent (0..1), ignoring case,
    punctuation and spacing; word order counts, as it does for a reader."""
    a, b = _normalise(draft), _normalise(sent)
    if not a or not b:
        return 0.0
    words = SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()
    chars = SequenceMatcher(None, a, b, autojunk=False).ratio()
    return round(max(words, chars), 3)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(
    r"(?P<d1>[a-z]{3})(?:\s*-\s*(?P<d2>[a-z]{3}))?\s+"
    r"(?P<h1>\d{1,2})(?::(?P<m1>\d{2}))?\s*-\s*(?P<h2>\d{1,2})(?::(?P<m2>\d{2}))?"
)


class OpeningHours(msgspec.Struct, frozen=True, kw_only=True):
    """Weekly opening hours in the shop's time zone; ``None`` hours means always open.

    ``spec`` reads like ``"Mon-Fri 9-18, Sat 10:00-14:00"``; a closing time past
    midnight (``Fri 18-02``) runs into the next day.
    """

    spec: str | None = None
    timezone: str = "Europe/Belgrade"

    def periods(self) -> list[tuple[int, time, time]]:
        """(weekday, opens, closes) for every period the spec names; ValueError if unreadable."""
        if not self.spec or not self.spec.strip():
            return []
        found: list[tuple[int, time, time]] = []
        for raw in re.split(r"[,;\n]", self.spec.lower()):
            part = raw.strip()
            if not part:
                continue
            match = _SPEC.fullmatch(part)
            if (
                match is None
                or match["d1"] not in _DAYS
                or (match["d2"] and match["d2"] not in _DAYS)
            ):
                raise ValueError(f"cannot read opening hours {part!r} (e.g. 'Mon-Fri 9-18')")
            first = _DAYS.index(match["d1"])
            last = _DAYS.index(match["d2"]) if match["d2"] else first
            opens = time(int(match["h1"]) % 24, int(match["m1"] or 0))
            closes = time(int(match["h2"]) % 24, int(match["m2"] or 0))
            day = first
            while True:
                found.append((day, opens, closes))
                if day == last:
                    break
                day = (day + 1) % 7
        return found

    def is_open(self, moment: datetime) -> bool:
        periods = self.periods()
        if not periods:
            return True
        local = moment.astimezone(ZoneInfo(self.timezone))
        for weekday, opens, closes in periods:
            start = datetime.combine(local.date(), opens, local.tzinfo)
            start -= timedelta(days=(local.weekday() - weekday) % 7)
            end = datetime.combine(start.date(), closes, local.tzinfo)
            if end <= start:
                end += timedelta(days=1)
            if start <= local < end:
                return True
        return False
