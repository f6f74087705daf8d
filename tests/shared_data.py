"""Test payloads: the project's own under ``tests/fixtures/``, and the shared corpus.

The project's fixtures are written from the platforms' documented formats and travel
with the repository. ``../shared`` beside the checkout holds read-only evaluation data
(real payloads written by others, knowledge-base data) that a fresh clone lacks: tests
that read it skip with the reason where it is absent, and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.needs import unavailable

__all__ = [
    "DATA",
    "FIXTURES",
    "OWN_FIXTURES",
    "SHARED_META",
    "fixture_bytes",
    "load_fixture",
    "require_shared",
    "shared_bytes",
    "shared_fixture",
]

#: The project's own platform payloads, one file per documented variant.
OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: ``../shared`` beside the checkout, or where ``CLIENTORA_TEST_SHARED`` points (a worktree).
SHARED = Path(
    os.environ.get("CLIENTORA_TEST_SHARED") or Path(__file__).resolve().parents[2] / "shared"
)
#: Real platform payloads written by others (never copied into the repository).
FIXTURES = SHARED / "fixtures"
#: Knowledge-base evaluation data.
DATA = SHARED / "data"

#: The shared Meta payloads: file -> (how it is wrapped into a whole body: ``as_is``, or
#: one messaging ``item``, one ``entry`` or one ``change`` of a Page; the event kinds it
#: must become, in order).
SHARED_META: dict[str, tuple[str, list[str]]] = {
    "messenger_webhook-attachment-entry_1.json": ("entry", ["message"]),
    "messenger_webhook-echo-text_1.json": ("item", ["echo"]),
    "messenger_webhook-postback-field-value_1.json": ("change", ["postback"]),
    "messenger_webhook-reaction_1.json": ("item", ["reaction"]),
    "messenger_webhook-read_1.json": ("item", ["status"]),
    "messenger_webhook-text-envelope_1.json": ("as_is", ["message"]),
    "messenger_webhook-text-quick-reply_1.json": ("item", ["message"]),
    "instagram_webhook-postback_1.json": ("as_is", ["postback"]),
    "instagram_webhook-reaction_1.json": ("as_is", ["reaction"]),
    "instagram_webhook-seen_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-document_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-image_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-interactive-button-reply_1.json": ("as_is", ["postback"]),
    "whatsapp_webhook-location_1.json": ("as_is", ["message"]),
    "whatsapp_webhook-reaction_1.json": ("as_is", ["reaction"]),
    "whatsapp_webhook-status-delivered_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-status-sent_1.json": ("as_is", ["status"]),
    "whatsapp_webhook-text_1.json": ("as_is", ["message"]),
}


def load_fixture(name: str) -> Any:
    """One of the project's own payloads (``"webhooks/whatsapp/text.json"``), parsed."""
    return json.loads(fixture_bytes(name))


def fixture_bytes(name: str) -> bytes:
    """One of the project's own payloads, byte for byte (as a platform would post it)."""
    return (OWN_FIXTURES / name).read_bytes()


def require_shared() -> None:
    """Skip the calling test without ``../shared/fixtures``; fail it on CI, where it must be."""
    if FIXTURES.is_dir():
        return
    unavailable(f"the shared payload corpus is not beside this checkout ({FIXTURES})")


def shared_fixture(name: str) -> Any:
    """A payload of the shared corpus, parsed (integers stay exact); see :func:`require_shared`."""
    return json.loads(shared_bytes(name))


def shared_bytes(name: str) -> bytes:
    require_shared()
    return (FIXTURES / name).read_bytes()
