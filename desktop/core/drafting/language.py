"""Which language a short customer message is written in (kept in ``common.language``,
which the relay's away reply reads too)."""

from __future__ import annotations

from common.language import LANGUAGE_NAMES, detect_language, is_cyrillic

__all__ = ["LANGUAGE_NAMES", "detect_language", "is_cyrillic"]
