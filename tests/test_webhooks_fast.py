"""The typed fast path: the commonest shapes only, and always the general parser's events."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from common.channels import Platform
from relay.webhooks.fast import fast_meta
from relay.webhooks.meta import parse_meta, parse_meta_general
from tests.relay_helpers import messenger_text
from tests.shared_data import OWN_FIXTURES, fixture_bytes

ROUTES: dict[tuple[Platform, str], str] = {
    ("messenger", "1048320001"): "ch-kafe",
    ("instagram", "17841401234"): "ch-kafe-ig",
    ("whatsapp", "1065403522"): "ch-kafe-wa",
}


def resolve(platform: Platform, external_id: str) -> str | None:
    return ROUTES.get((platform, external_id))


FAST = {
    "messenger/text",
    "messenger/batched",
    "instagram/text",
    "whatsapp/text",
    "whatsapp/batched",
    "whatsapp/status-sent",
    "whatsapp/status-delivered",
    "whatsapp/status-read",
    "whatsapp/status-read-callback",
}


def _names() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in (OWN_FIXTURES / "webhooks").glob("*/*.json"))


@pytest.mark.parametrize("name", _names())
def test_fast_path_takes_only_the_common_shapes_and_agrees(name: str) -> None:
    """Each fixture parses to the same events with and without the fast path, which takes
    exactly the plain texts and the sent/delivered/read statuses."""
    body = fixture_bytes(f"webhooks/{name}.json")
    fast = fast_meta(body, resolve)
    assert (fast is not None) == (name in FAST)
    assert parse_meta(body, resolve, 42) == parse_meta_general(body, resolve, 42)
    if fast is not None:
        assert fast == parse_meta_general(body, resolve, 42)


Path_ = tuple[str | int, ...]
ITEM: Path_ = ("entry", 0, "messaging", 0)
VALUE: Path_ = ("entry", 0, "changes", 0, "value")
# (where, field, new value): each a small change that must leave the fast path.
MESSAGING_EDITS: list[tuple[Path_, str, Any]] = [
    ((*ITEM, "message"), "is_echo", True),
    ((*ITEM, "message"), "text", ""),
    (ITEM, "timestamp", 1764840001),  # seconds
    (ITEM, "timestamp", "2025-12-04T09:20:19Z"),
    (ITEM[:2], "id", "999"),  # an unknown page: the general parser says so
    (ITEM[:2], "messaging", []),
    ((*ITEM, "sender"), "id", 6802417395012345),
]
WHATSAPP_EDITS: list[tuple[Path_, str, Any]] = [
    ((*VALUE, "metadata"), "phone_number_id", "999"),
    (VALUE, "errors", [{"code": 130429}]),
    (VALUE, "contacts", [{"profile": {"name": ""}, "wa_id": "1"}]),
]
MESSAGE_EDITS: list[tuple[Path_, str, Any]] = [
    ((*VALUE, "messages", 0), "timestamp", "0"),
    ((*VALUE, "messages", 0), "context", {"id": "wamid.X"}),
    ((*VALUE, "messages", 0), "from_user_id", "XK.1"),
    (VALUE, "statuses", [{"id": "wamid.X"}]),
]
STATUS_EDITS: list[tuple[Path_, str, Any]] = [
    ((*VALUE, "statuses", 0), "status", "failed"),
    ((*VALUE, "statuses", 0), "errors", []),
    ((*VALUE, "statuses", 0), "pricing", {"billable": True}),
]


def _variants(name: str) -> list[Any]:
    base = json.loads(fixture_bytes(f"webhooks/{name}.json"))
    if "messaging" in base["entry"][0]:
        edits = MESSAGING_EDITS
    elif "messages" in base["entry"][0]["changes"][0]["value"]:
        edits = WHATSAPP_EDITS + MESSAGE_EDITS
    else:
        edits = WHATSAPP_EDITS + STATUS_EDITS
    out = []
    for where, key, value in edits:
        body = copy.deepcopy(base)
        node = body
        for step in where:
            node = node[step]
        node[key] = value
        out.append(body)
    return out


@pytest.mark.parametrize("name", sorted(FAST))
def test_any_other_shape_leaves_the_fast_path(name: str) -> None:
    """One field more, less or of another kind sends the body to the general parser."""
    for body in _variants(name):
        raw = json.dumps(body).encode()
        assert fast_meta(raw, resolve) is None, body
        assert parse_meta(raw, resolve, 42) == parse_meta_general(raw, resolve, 42)


def test_several_entries_and_customers_keep_their_order() -> None:
    """A batch of plain texts from several customers comes out in body order, as generally."""
    bodies = [messenger_text("1048320001", f"U{n}", f"m{n}", f"text {n}") for n in range(3)]
    batch = {"object": "page", "entry": [b["entry"][0] for b in bodies]}
    raw = json.dumps(batch).encode()
    fast = fast_meta(raw, resolve)
    assert fast is not None
    assert [e.platform_id for e in fast.events] == ["m0", "m1", "m2"]  # type: ignore[union-attr]
    assert fast == parse_meta_general(raw, resolve, 42)
