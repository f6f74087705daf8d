"""Prometheus metrics of the relay (request metrics come from Litestar's plugin)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = [
    "AWAY_REPLIES",
    "EVENTS_DELIVERED",
    "EVENTS_DUPLICATE",
    "EVENTS_STORED",
    "SENDS",
    "SEND_FAILURES",
    "WEBHOOKS",
    "WEBHOOK_ITEMS_IGNORED",
    "WEBHOOK_ITEMS_UNSUPPORTED",
]

WEBHOOKS = Counter(
    "clientora_webhooks_total", "Webhook requests by source and outcome", ["source", "outcome"]
)
WEBHOOK_ITEMS_IGNORED = Counter(
    "clientora_webhook_items_ignored_total",
    "Webhook items of no known account or conversation, logged and not stored",
    ["platform", "reason"],
)
WEBHOOK_ITEMS_UNSUPPORTED = Counter(
    "clientora_webhook_items_unsupported_total",
    "Webhook items stored as 'unsupported' events or channel alerts, by reason",
    ["platform", "reason"],
)
EVENTS_STORED = Counter("clientora_events_stored_total", "Events appended to the log", ["kind"])
EVENTS_DUPLICATE = Counter("clientora_events_duplicate_total", "Webhook items dropped as repeats")
EVENTS_DELIVERED = Counter("clientora_events_delivered_total", "Events written to device streams")
AWAY_REPLIES = Counter(
    "clientora_away_replies_total",
    "Inbound messages the away check looked at, by outcome (sent, or why not)",
    ["outcome"],
)
SENDS = Counter("clientora_sends_total", "Replies sent to a platform", ["platform"])
SEND_FAILURES = Counter("clientora_send_failures_total", "Failed sends by error code", ["code"])
