"""A channel card's health row: token, webhooks, last message and reply, and the one fix."""

from __future__ import annotations

from typing import Final, Literal

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from desktop.core.relay_client import ChannelHealth, HealthCheck
from desktop.ui.text import short_time
from desktop.ui.widgets.common import button, label

__all__ = ["Fix", "HealthRow", "fix_for_status", "health_summary"]

Fix = Literal["reconnect", "resubscribe"]

_FIX_WORDS: Final[dict[str, tuple[str, str]]] = {
    "reconnect": ("Reconnect", "Sign in again so the platform accepts this channel's access."),
    "resubscribe": ("Resubscribe", "Ask the platform to send this channel's messages here again."),
}
_MARKS: Final = {"ok": "✓", "warning": "!", "problem": "✕", "unknown": "–"}


def fix_for_status(status: str) -> Fix | None:
    """The fix a channel's status asks for before its health is loaded."""
    if status == "needs_reconnect":
        return "reconnect"
    if status == "webhook_failing":
        return "resubscribe"
    return None


def _short(check: HealthCheck, now_ms: int) -> str | None:
    """A few words for one check, for the summary line (None: not worth a mention)."""
    at = short_time(check.checked_at_ms, now_ms) if check.checked_at_ms else None
    match check.name, check.state:
        case "token", "ok":
            return "Access ✓"
        case "token", "warning":
            return "Access expires soon"
        case "token", "problem":
            return "Access refused"
        case (("subscription" | "webhook"), "ok"):
            return "Webhooks ✓"
        case (("subscription" | "webhook"), "problem"):
            return "Webhooks missing"
        case "events", "ok" if at:
            return f"Last message {at}"
        case "events", _:
            return "No messages yet"
        case "sends", "ok" if at:
            return f"Last reply {at}"
        case "sends", "warning":
            return "Last reply failed"
        case _:
            return None


def health_summary(health: ChannelHealth, now_ms: int) -> tuple[str, list[str]]:
    """(one summary line, the sentences of checks that need attention)."""
    words = [w for c in health.checks if (w := _short(c, now_ms))]
    attention = [c.message for c in health.checks if c.state in ("problem", "warning")]
    return " · ".join(dict.fromkeys(words)), attention


class HealthRow(QWidget):
    """Health at a glance, the fix it needs (``fix_requested``) and ``check_requested``."""

    fix_requested = Signal(str)  # Fix
    check_requested = Signal()

    def __init__(self, status: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.summary = label("Not checked yet.", "hint", wrap=True)
        self.fix_button = button("", kind="primary")
        self.fix_button.clicked.connect(self._fix_clicked)
        self.fix_button.hide()
        self.check_button = button("Check now", "regenerate", "flat")
        self.check_button.setToolTip("Ask the platform now whether this channel works.")
        self.check_button.clicked.connect(self.check_requested)
        row.addWidget(self.summary, 1)
        row.addWidget(self.fix_button)
        row.addWidget(self.check_button)
        layout.addLayout(row)
        self.attention = label("", "muted", wrap=True)
        self.attention.hide()
        layout.addWidget(self.attention)
        #: The platform's latest notice about the channel (a rejected template, a limit).
        self.alert = label("", "muted", wrap=True)
        self.alert.hide()
        layout.addWidget(self.alert)
        self._fix: Fix | None = None
        self.health: ChannelHealth | None = None
        self.set_fix(fix_for_status(status))

    @property
    def fix(self) -> Fix | None:
        """The fix the button offers now (None: nothing to fix)."""
        return self._fix

    def set_fix(self, fix: Fix | None) -> None:
        self._fix = fix
        if fix is None:
            self.fix_button.hide()
            return
        text, tip = _FIX_WORDS[fix]
        self.fix_button.setText(text)
        self.fix_button.setToolTip(tip)
        self.fix_button.setAccessibleName(text)
        self.fix_button.setEnabled(self.check_button.isEnabled())
        self.fix_button.show()

    def set_health(self, health: ChannelHealth, now_ms: int) -> None:
        self.health = health
        summary, attention = health_summary(health, now_ms)
        self.summary.setText(summary or "Not checked yet.")
        self.summary.setToolTip(
            "\n".join(f"{_MARKS.get(c.state, '–')} {c.message}" for c in health.checks)
        )
        self.attention.setText("\n".join(attention))
        self.attention.setVisible(bool(attention))
        fix: Fix | None = health.actions[0] if health.actions else fix_for_status(health.status)
        self.set_fix(fix)

    def set_alert(
        self, text: str | None, level: str | None, at_ms: int | None, now_ms: int
    ) -> None:
        """Show the platform's latest notice about the channel, marked by its level."""
        if not text:
            self.alert.hide()
            return
        mark = {"problem": _MARKS["problem"], "warning": _MARKS["warning"]}.get(level or "", "ⓘ")
        when = f" ({short_time(at_ms, now_ms)})" if at_ms else ""
        self.alert.setText(f"{mark} {text}{when}")
        self.alert.setAccessibleName(f"Notice from the platform: {text}")
        self.alert.show()

    def set_busy(self, busy: bool, words: str = "Checking…") -> None:
        """A check or fix is running: both buttons wait."""
        self.check_button.setEnabled(not busy)
        self.check_button.setText(words if busy else "Check now")
        self.fix_button.setEnabled(not busy)

    def _fix_clicked(self) -> None:
        if self._fix is not None:
            self.fix_requested.emit(self._fix)
