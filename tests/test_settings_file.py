"""The settings file: written and read back, and files of earlier versions still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.core import settings as settings_file
from desktop.core.drafting.messages import DEFAULT_MESSAGES


def _old_file(path: Path, profile: dict[str, object]) -> Path:
    """A settings file as versions before per-language messages wrote it."""
    relay = {"mode": "remote", "url": "https://relay.example"}
    path.write_text(json.dumps({"relay": relay, "profile": profile}))
    return path


def test_old_handoff_and_away_texts_become_the_shops_messages_in_their_language(
    tmp_path: Path,
) -> None:
    """An owner's own hand-off (Albanian) and away text (Serbian Cyrillic) are kept, each
    under the language it is written in, and used for customers writing that language."""
    path = _old_file(
        tmp_path / "settings.json",
        {
            "name": "Kafe Prishtina",
            "handoff_message": "Faleminderit! Arta do t'ju shkruajë brenda një ore.",
            "away_message": "Хвала! Сада смо затворени, јавићемо вам се ујутру.",
            "languages": ["sq", "sr", "en"],
        },
    )
    loaded = settings_file.load(path)
    profile = loaded.profile
    assert loaded.relay.url == "https://relay.example"
    assert profile.message("handoff", "sq") == (
        "Faleminderit! Arta do t'ju shkruajë brenda një ore."
    )
    assert profile.message("away", "sr-Cyrl") == (
        "Хвала! Сада смо затворени, јавићемо вам се ујутру."
    )
    # The rest of each set, and the other languages, keep their defaults.
    assert profile.message("away", "sq") == DEFAULT_MESSAGES["sq"].away
    assert profile.message("handoff", "en") == DEFAULT_MESSAGES["en"].handoff
    # Saving writes the current form, and reading it again finds the same texts.
    settings_file.save(path, loaded)
    assert "handoff_message" not in path.read_text()
    assert settings_file.load(path).profile == profile


def test_an_old_text_whose_language_cannot_be_told_goes_under_the_shops_first_language(
    tmp_path: Path,
) -> None:
    """A text too short to tell its language is kept as the shop's first language's."""
    path = _old_file(
        tmp_path / "settings.json",
        {"name": "Radnja", "handoff_message": "OK!", "away_message": "", "languages": ["sr"]},
    )
    profile = settings_file.load(path).profile
    assert profile.message("handoff", "sr-Latn") == "OK!"
    assert profile.message("away", "sr-Latn") == DEFAULT_MESSAGES["sr-Latn"].away


def test_old_default_texts_leave_the_default_messages(tmp_path: Path) -> None:
    """A profile that still held the old English defaults gets every language's defaults."""
    path = _old_file(
        tmp_path / "settings.json",
        {
            "name": "Shop",
            "handoff_message": "Thank you! A member of our team will answer you shortly.",
            "away_message": "Thank you for your message! We are closed now and will answer "
            "when we open.",
        },
    )
    assert settings_file.load(path).profile.messages == DEFAULT_MESSAGES


def test_an_unreadable_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    """A damaged file names itself in the error instead of silently resetting settings."""
    path = tmp_path / "settings.json"
    path.write_text('{"profile": {"name": 3}}')
    with pytest.raises(ValueError, match=r"settings\.json cannot be read"):
        settings_file.load(path)
