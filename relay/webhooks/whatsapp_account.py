"""WhatsApp account-level webhook fields, keyed by the WhatsApp Business Account (WABA) id.

Template status and quality, the number's quality rating and limits, account alerts,
account updates, security notices and review decisions name no customer: each becomes a
``ChannelAlert`` on every channel of ours that sends through that account (on the one
number when the field names it by id). ``level`` says how much it asks of the owner:
``problem`` (a rejection, a ban, a deleted account), ``warning`` (action may be needed),
``info``. A field of an account we do not know belongs to nobody and is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from common.events import ChannelAlert
from relay.webhooks.parsing import (
    AccountResolver,
    ChannelResolver,
    Ignored,
    ParseResult,
    as_id,
    as_obj,
    as_str,
    as_time,
    label,
)

__all__ = ["ACCOUNT_FIELDS", "account_change"]

Level = Literal["info", "warning", "problem"]

#: The fields this module reads field by field; any other field of a known account still
#: makes an informational alert with what it names.
ACCOUNT_FIELDS: Final = frozenset(
    {
        "account_alerts",
        "account_update",
        "account_review_update",
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
        "phone_number_quality_update",
        "phone_number_name_update",
        "security",
    }
)
_SEVERITY: Final[Mapping[str, Level]] = {
    "CRITICAL": "problem",
    "WARNING": "warning",
    "INFORMATIONAL": "info",
}
_PROBLEM_EVENTS: Final = frozenset(
    {
        "ACCOUNT_DELETED",
        "ACCOUNT_VIOLATION",
        "DISABLED_UPDATE",
        "PARTNER_APP_UNINSTALLED",
        "PARTNER_REMOVED",
        "REJECTED",
        "DISABLED",
        "DELETED",
    }
)
_WARNING_EVENTS: Final = frozenset(
    {
        "PAUSED",
        "FLAGGED",
        "LOCKED",
        "LIMIT_EXCEEDED",
        "PENDING_DELETION",
        "DOWNGRADE",
        "PIN_CHANGED",
        "PIN_RESET_REQUEST",
        "PIN_REQUEST_SUCCESS",
        "SCHEDULE_FOR_DISABLE",
        "DEFERRED",
    }
)
_REASONS: Final[Mapping[str, str]] = {
    "account_alerts": "account alert",
    "account_update": "account update",
    "account_review_update": "account review",
    "message_template_status_update": "template status",
    "message_template_quality_update": "template quality",
    "template_category_update": "template category",
    "phone_number_quality_update": "number quality",
    "phone_number_name_update": "display name review",
    "security": "security notice",
}


def account_change(
    entry: Mapping[str, Any],
    field: str,
    value: Mapping[str, Any],
    resolve: ChannelResolver,
    accounts: AccountResolver,
    received_ms: int,
    result: ParseResult,
) -> None:
    """One account-level change as an alert on each of the account's channels."""
    account = as_id(entry.get("id"))
    channels: Sequence[str] = accounts(account) if account is not None else ()
    # An alert about one number of the account goes to that number's channel only.
    entity = as_id(value.get("entity_id")) if value.get("entity_type") == "PHONE_NUMBER" else None
    if entity is not None:
        one = resolve("whatsapp", entity)
        channels = (one,) if one is not None else channels
    if not channels:
        result.ignored.append(Ignored("whatsapp", "unknown account", label(account)))
        return
    event, level, detail = _read(field, value)
    time = entry.get("time")
    stamp = as_time(time)
    # Meta retries the same body: the entry's time and what it names make a stable id.
    subject = as_id(value.get("message_template_id")) or as_id(value.get("entity_id")) or ""
    platform_id = f"{field}:{label(time)}:{event}:{subject}" if stamp is not None else None
    for channel_id in channels:
        result.events.append(
            ChannelAlert(
                channel_id=channel_id,
                platform="whatsapp",
                timestamp_ms=stamp or received_ms,
                raw_type=f"{label(field)}.{event}" if event else label(field),
                reason=_REASONS.get(field, "account notice"),
                level=level,
                detail=detail,
                platform_id=platform_id,
            )
        )


def _level(event: str | None) -> Level:
    if event in _PROBLEM_EVENTS:
        return "problem"
    if event in _WARNING_EVENTS:
        return "warning"
    return "info"


def _words(*parts: str | None) -> str | None:
    """The parts that are there, as one sentence."""
    text = " ".join(p for p in parts if p)
    return text[:1].upper() + text[1:] if text else None


def _read(field: str, value: Mapping[str, Any]) -> tuple[str, Level, str | None]:
    """(the platform's event name, level, the platform's words) for one change value."""
    event = as_str(value.get("event")) or as_str(value.get("decision"))
    if field == "account_alerts":
        info = as_obj(value.get("alert_info"))
        kind = as_str(info.get("alert_type")) or "ALERT"
        severity = as_str(info.get("alert_severity")) or ""
        return (
            kind,
            _SEVERITY.get(severity, "warning"),
            _words(as_str(info.get("alert_description"))),
        )
    if "new_quality_score" in value:
        # Template quality (delivered under either template field).
        new = as_str(value.get("new_quality_score")) or "UNKNOWN"
        before = as_str(value.get("previous_quality_score"))
        words = _words(
            _template(value), "quality", f"{before.lower()} →" if before else None, new.lower()
        )
        return f"QUALITY_{new}", "warning" if new == "RED" else "info", words
    if field in ("message_template_status_update", "template_category_update"):
        reason = as_str(value.get("reason"))
        rejection = as_obj(value.get("rejection_info"))
        other = as_obj(value.get("other_info"))
        new_category = as_str(value.get("new_category"))
        words = _words(
            _template(value),
            (event or "").lower().replace("_", " ") or None,
            f"(now {new_category.lower()})" if new_category else None,
            f"— {reason.lower().replace('_', ' ')}." if reason and reason != "NONE" else None,
            as_str(rejection.get("reason")),
            as_str(other.get("description")),
        )
        return event or "UPDATE", _level(event), words
    if field == "account_update":
        ban = as_str(as_obj(value.get("ban_info")).get("waba_ban_state"))
        violation = as_str(as_obj(value.get("violation_info")).get("violation_type"))
        level = "info" if ban == "REINSTATE" else _level(ban) if ban else _level(event)
        words = _words(
            (event or "").lower().replace("_", " ") or None,
            f"({ban.lower().replace('_', ' ')})" if ban else None,
            f"for {violation.lower()}" if violation else None,
            as_str(value.get("country")),
        )
        return event or "UPDATE", level, words
    if field in ("phone_number_quality_update", "security"):
        number = as_str(value.get("display_phone_number"))
        limit = as_str(value.get("current_limit")) or as_str(
            value.get("max_daily_conversations_per_business")
        )
        words = _words(
            f"+{number.removeprefix('+')}:" if number else None,
            (event or "").lower().replace("_", " ") or None,
            f"(limit {limit})" if limit else None,
        )
        return event or "UPDATE", _level(event), words
    if field == "phone_number_name_update":
        name = as_str(value.get("requested_verified_name"))
        why = as_str(value.get("rejection_reason"))
        words = _words(
            f"Display name {name!r}" if name else "Display name",
            (event or "").lower(),
            f"({why.lower().replace('_', ' ')})" if why and why != "NONE" else None,
        )
        return event or "UPDATE", _level(event), words
    # account_review_update and any other field: its event or decision, if it has one.
    words = f"{_REASONS.get(field, label(field))}: {(event or '').lower().replace('_', ' ')}"
    return event or "", _level(event), _words(words) if event else None


def _template(value: Mapping[str, Any]) -> str | None:
    name = as_str(value.get("message_template_name"))
    language = as_str(value.get("message_template_language"))
    if name is None:
        return None
    return f"Template {name} ({language})" if language else f"Template {name}"
