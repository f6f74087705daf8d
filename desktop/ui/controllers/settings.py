"""Connects the settings screen to the preferences, saved replies and the session."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.ai_check import CheckResult, check_ai
from desktop.core.autostart import Autostart, launch_command
from desktop.core.services import Preferences, SessionService
from desktop.core.settings import AppSettings
from desktop.ui.saved_replies import SavedReplies
from desktop.ui.screens.settings import SettingsScreen
from desktop.ui.tasks import TaskKeeper

__all__ = ["SettingsController"]


class SettingsController(QObject):
    """Shows the settings and saves the edited copy."""

    saved = Signal()
    signed_out = Signal()
    theme_requested = Signal(str)

    def __init__(
        self,
        session: SessionService,
        preferences: Preferences,
        screen: SettingsScreen,
        tasks: TaskKeeper,
        replies: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.preferences = preferences
        self.screen = screen
        self.tasks = tasks
        self.replies = replies
        screen.save_requested.connect(self.save)
        screen.test_requested.connect(self.test)
        screen.sign_out_requested.connect(self.sign_out)
        screen.theme_changed.connect(self.theme_requested)
        self.autostart = Autostart(launch_command())
        screen.autostart_changed.connect(self.set_autostart)
        screen.add_reply_requested.connect(replies.add)
        screen.remove_reply_requested.connect(replies.remove)
        replies.changed.connect(lambda: screen.set_saved_replies(replies.items()))
        screen.set_saved_replies(replies.items())

    def reload(self) -> None:
        self.screen.set_settings(self.preferences.settings)
        self.screen.set_autostart(self.autostart.enabled())
        relay = self.preferences.settings.relay
        if self.session.mode == "local":
            text = "Running on this computer, with the Clientora service built in."
        elif self.session.mode == "remote":
            text = f"Signed in to {relay.url} as {relay.email}."
        else:
            text = "Not signed in."
        self.screen.set_account(text, self.session.signed_in)

    def save(self, settings: object) -> None:
        assert isinstance(settings, AppSettings)

        def done(_: None) -> None:
            self.screen.saved(self.preferences.settings)
            self.saved.emit()

        self.tasks.spawn(self.preferences.update(settings), done=done, error=self.screen.failed)

    def set_autostart(self, on: bool) -> None:
        """Add or remove this user's start-at-sign-in entry (one small file or value)."""
        try:
            if on:
                self.autostart.enable()
            else:
                self.autostart.disable()
        except OSError as exc:
            self.screen.failed(f"Could not change starting with the computer: {exc}")
        self.screen.set_autostart(self.autostart.enabled())

    def sign_out(self) -> None:
        self.tasks.spawn(
            self.session.sign_out(), done=lambda _: self.signed_out.emit(), error=self.screen.failed
        )

    def test(self, settings: object) -> None:
        """Try the AI connection as edited on screen (before it is saved)."""
        assert isinstance(settings, AppSettings)

        def done(results: list[CheckResult]) -> None:
            names = {"chat": "Replies", "embeddings": "Search by meaning"}
            self.screen.tested([(r.ok, f"{names[r.name]}: {r.words}") for r in results])

        self.tasks.spawn(
            check_ai(settings.ai, settings.embeddings),
            done=done,
            error=lambda words: self.screen.tested([(False, words)]),
        )
