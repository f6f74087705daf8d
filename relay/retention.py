"""Retention: the relay forgets events, dedupe keys and window contacts past their time.

Events acknowledged by every device of their business go ``retention_days`` after
they were stored; events some device never acknowledged go after
``unacked_max_days`` with a warning (a count, never content). Dedupe and send keys
go after ``dedupe_ttl_s``; a contact row once no messaging window can still be open.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from common.channels import HUMAN_AGENT_WINDOW_MS
from relay.services import Services, now_ms
from relay.settings import Settings
from relay.store import Store
from relay.store.base import RetentionCounts, RetentionCutoffs

__all__ = ["DAY_MS", "cutoffs", "keep_retaining", "run_retention"]

log = logging.getLogger("clientora.relay.retention")

DAY_MS = 86_400_000
# A contact's last action is the platform's timestamp: a day's slack for clocks.
_CONTACT_SLACK_MS = DAY_MS


def cutoffs(settings: Settings, now: int) -> RetentionCutoffs:
    """The instants before which each kind of row is past its time at ``now``."""
    return RetentionCutoffs(
        acked_before_ms=now - settings.retention_days * DAY_MS,
        unacked_before_ms=now - settings.unacked_max_days * DAY_MS,
        keys_before_ms=now - settings.dedupe_ttl_s * 1000,
        contacts_before_ms=now - HUMAN_AGENT_WINDOW_MS - _CONTACT_SLACK_MS,
    )


async def run_retention(store: Store, settings: Settings, now: int) -> RetentionCounts:
    """Delete everything past its time at ``now`` (ms since the epoch); say what went."""
    counts = await store.expire(cutoffs(settings, now), max(1, settings.retention_batch))
    if counts.unacked_events:
        log.warning(
            "dropped events no device acknowledged in time",
            extra={"events": counts.unacked_events, "days": settings.unacked_max_days},
        )
    if counts != RetentionCounts():
        log.info("retention removed old rows", extra=asdict(counts))
    return counts


async def keep_retaining(services: Services) -> None:
    """Run retention now and then every ``retention_interval_s`` until cancelled."""
    while True:
        try:
            await run_retention(services.store, services.settings, now_ms())
        except Exception:  # a failed run must not end the task; the next one tries again
            log.exception("retention run failed")
        await asyncio.sleep(services.settings.retention_interval_s)
