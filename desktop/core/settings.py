"""The desktop's settings: one typed object, saved as JSON in the data folder.

The AI key is not written here: it goes to the same secret storage as the session
token (see ``credentials.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import msgspec

from common.away import AwayChannel
from desktop.core.autopilot import ChannelPolicy, OpeningHours
from desktop.core.drafting import AIConfig, BusinessProfile
from desktop.core.drafting.language import is_cyrillic
from desktop.core.drafting.messages import DEFAULT_MESSAGES, canned, message_language
from desktop.core.paths import default_data_dir

__all__ = [
    "AppSettings",
    "EmbeddingSettings",
    "RelaySettings",
    "default_data_dir",
    "load",
    "load_ai_key",
    "save",
    "save_ai_key",
    "write_private",
]


class RelaySettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Which relay the app talks to."""

    #: ``embedded``: a relay runs inside the app on this computer; ``remote``: a hosted one.
    mode: str = "embedded"
    #: Base URL of a hosted relay (remote mode).
    url: str = ""
    #: Port of the embedded relay (0: any free port).
    embedded_port: int = 8700
    #: Account e-mail used to sign in (the token itself is kept as a secret).
    email: str = ""


class EmbeddingSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Vectors for hybrid search; off by default (full-text search always works)."""

    enabled: bool = False
    model: str = "text-embedding-3-small"
    dims: int = 1536


class AppSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Everything a shop owner sets in the app."""

    relay: RelaySettings = RelaySettings()
    #: The chat model; with no ``base_url`` and no key the extractive drafter answers.
    ai: AIConfig = AIConfig()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    #: The shop, with its hand-off, away, courtesy and limit messages per language
    #: (defaults for en, sq, sr-Latn, sr-Cyrl, it, de: ``drafting.messages``).
    profile: BusinessProfile = BusinessProfile(name="My shop")
    hours: OpeningHours = OpeningHours()
    #: Per-channel autopilot policy (missing: manual).
    policies: dict[str, ChannelPolicy] = {}
    #: Per channel: the relay answers a new conversation once with the away message
    #: when no device has been connected for a while (missing: off).
    away: dict[str, AwayChannel] = {}
    #: A burst of messages counts as one turn once the customer is quiet this long.
    settle_s: float = 4.0
    #: Hand off after this many drafts in a row that found nothing to answer from.
    max_unanswered: int = 2
    #: Imported websites are fetched again this often to pick up changed pages (0: never).
    resync_hours: float = 24.0

    def policy(self, channel_id: str) -> ChannelPolicy:
        return self.policies.get(channel_id, ChannelPolicy())

    @property
    def ai_configured(self) -> bool:
        return bool(self.ai.base_url or self.ai.api_key)


#: Before messages were kept per language the profile held one hand-off and one away text
#: (these were their defaults); the owner's own texts move into ``profile.messages``.
_OLD_FIELDS: Final = {
    "handoff_message": ("handoff", "Thank you! A member of our team will answer you shortly."),
    "away_message": (
        "away",
        "Thank you for your message! We are closed now and will answer when we open.",
    ),
}


def _migrated(raw: Any) -> Any:
    """``raw`` settings with an old profile's own hand-off/away texts moved into
    ``profile.messages`` under the language they are written in (the shop's first language
    when the text does not tell), or ``raw`` itself when there is nothing to move."""
    profile = raw.get("profile") if isinstance(raw, dict) else None
    if not isinstance(profile, dict) or not _OLD_FIELDS.keys() & profile.keys():
        return raw
    profile = dict(profile)
    languages = profile.get("languages") or list(BusinessProfile(name="").languages)
    messages = profile.get("messages")
    if not isinstance(messages, dict):
        messages = msgspec.to_builtins(DEFAULT_MESSAGES)
    for field, (kind, old_default) in _OLD_FIELDS.items():
        text = profile.pop(field, None)
        if not isinstance(text, str) or not text.strip() or text.strip() == old_default:
            continue
        tag = message_language(text)
        if tag == "und":
            first = str(languages[0]) if languages else "en"
            tag = first if first != "sr" else ("sr-Cyrl" if is_cyrillic(text) else "sr-Latn")
        base = messages.get(tag)
        if not isinstance(base, dict):
            base = msgspec.to_builtins(canned({}, tag, tuple(map(str, languages))))
        messages[tag] = {**base, kind: text.strip()}
    profile["messages"] = messages
    return {**raw, "profile": profile}


def load(path: Path) -> AppSettings:
    """Read settings; a missing file gives the defaults, an unreadable one a clear error.

    Files written by earlier versions are read too (see ``_migrated``); the next save
    writes them in the current form."""
    if not path.exists():
        return AppSettings()
    try:
        raw = msgspec.json.decode(path.read_bytes())
        return msgspec.json.decode(msgspec.json.encode(_migrated(raw)), type=AppSettings)
    except msgspec.DecodeError as exc:
        raise ValueError(f"The settings file {path} cannot be read: {exc}") from None


def save(path: Path, settings: AppSettings) -> None:
    """Write atomically; the AI key is left out (it is kept with the other secrets)."""
    stored = msgspec.structs.replace(
        settings, ai=msgspec.structs.replace(settings.ai, api_key=None)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(stored)))
    os.replace(tmp, path)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / "ai-key"


def load_ai_key(data_dir: Path) -> str | None:
    """The AI key, kept apart from the settings in an owner-only file."""
    path = _key_path(data_dir)
    return path.read_text().strip() or None if path.exists() else None


def save_ai_key(data_dir: Path, key: str | None) -> None:
    path = _key_path(data_dir)
    if key:
        write_private(path, key.encode())
    else:
        path.unlink(missing_ok=True)
