"""Everything the window shows once the engine is open: screens, controllers, notifications.

Imported in the background after the window is already on screen (it pulls in the engine
and its heavy libraries); :func:`open_workspace` opens the engine and decides between the
first-run screen and the inbox.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QApplication

from desktop.core.engine import Engine, EngineError
from desktop.core.store import SyncStatusChanged
from desktop.ui.controllers.channels import ChannelsController
from desktop.ui.controllers.knowledge import KnowledgeController
from desktop.ui.controllers.lists import ApprovalsController, ExpiringController, InboxController
from desktop.ui.controllers.settings import SettingsController
from desktop.ui.controllers.usage import UsageController
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.main_window import MainWindow
from desktop.ui.saved_replies import SavedReplies
from desktop.ui.screens.channels import ChannelsScreen
from desktop.ui.screens.first_run import FirstRunScreen
from desktop.ui.screens.knowledge import KnowledgeScreen
from desktop.ui.screens.lists import InboxScreen, ListScreen
from desktop.ui.screens.settings import SettingsScreen
from desktop.ui.screens.usage import UsageScreen
from desktop.ui.tasks import TaskKeeper
from desktop.ui.text import plain_error
from desktop.ui.theme import Scheme, apply_theme
from desktop.ui.tray import TrayNotifier

__all__ = ["Workspace", "open_engine", "open_workspace", "sync_words"]

log = logging.getLogger(__name__)

SCHEMES: tuple[Scheme, ...] = ("light", "dark", "system")

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("inbox", "Inbox", "nav-inbox"),
    ("approvals", "Approvals", "nav-approval"),
    ("expiring", "Expiring soon", "nav-expiring"),
    ("knowledge", "Knowledge", "nav-knowledge"),
    ("channels", "Channels", "nav-channels"),
    ("usage", "Usage and results", "nav-usage"),
    ("settings", "Settings", "nav-settings"),
)


def sync_words(status: SyncStatusChanged) -> str:
    """The connection state for the sidebar, in a few words."""
    match status.state:
        case "live":
            return "● Connected"
        case "connecting":
            return "○ Connecting…"
        case "catching_up":
            head = f" {status.cursor}/{status.head}" if status.head else ""
            return f"◐ Catching up{head}…"
        case "offline":
            wait = f" — retrying in {status.retry_in_s:.0f} s" if status.retry_in_s else ""
            return f"○ Offline{wait}"
        case "signed_out":
            return "○ Signed out — sign in again in Settings"
        case "device_unknown":
            return "○ This computer is no longer registered — sign in again"
        case _:
            return ""


async def open_engine(data_dir: Path) -> Engine:
    """Open the engine with the built-in relay available for "run on this computer"."""
    from desktop.embedded import EmbeddedRelay  # noqa: PLC0415 - loads the relay only here

    return await Engine.open(
        data_dir, local_relay=lambda folder, port: EmbeddedRelay(folder, port=port)
    )


class Workspace(QObject):
    """Builds the screens and controllers over one engine and wires them to the window."""

    #: The inbox (or the first-run screen) is ready to use.
    ready = Signal()

    def __init__(self, engine: Engine, window: MainWindow, settings: QSettings) -> None:
        super().__init__(window)
        self.engine = engine
        self.window = window
        self.settings = settings
        self.tasks = TaskKeeper(self)
        self.tasks.failed.connect(lambda words: window.banner.show_message("error", words))
        self.hub = ChangeHub(engine.changes, parent=self)
        self.hub.changed.connect(self._on_changes)
        self.replies = SavedReplies(engine.preferences.data_dir / "saved-replies.json", self)

        self.inbox_screen = InboxScreen()
        self.approvals_screen = ListScreen(
            "Approvals",
            "Drafts waiting for you, oldest first. Ctrl+Enter approves.",
            ("nav-approval", "All caught up", "Drafts that wait for your approval appear here."),
        )
        self.expiring_screen = ListScreen(
            "Expiring soon",
            "Customers waiting for an answer. Platforms refuse replies 24 hours after the"
            " customer's last message.",
            (
                "nav-expiring",
                "Nobody is waiting",
                "Conversations whose reply window closes soon appear here, the most urgent first.",
            ),
        )
        self.knowledge_screen = KnowledgeScreen()
        self.channels_screen = ChannelsScreen()
        self.usage_screen = UsageScreen()
        self.settings_screen = SettingsScreen()
        widgets = {
            "inbox": self.inbox_screen,
            "approvals": self.approvals_screen,
            "expiring": self.expiring_screen,
            "knowledge": self.knowledge_screen,
            "channels": self.channels_screen,
            "usage": self.usage_screen,
            "settings": self.settings_screen,
        }
        for name, title, icon_name in SCREENS:
            window.add_screen(name, title, icon_name, widgets[name])

        self.tray = TrayNotifier(window, self)
        conversations, knowledge = engine.conversations, engine.knowledge
        self.inbox = InboxController(
            conversations,
            knowledge,
            engine.channels,
            self.inbox_screen,
            self.hub,
            self.tasks,
            self.replies,
            self,
        )
        self.approvals = ApprovalsController(
            conversations,
            knowledge,
            self.approvals_screen,
            self.hub,
            self.tasks,
            self.replies,
            self,
        )
        self.expiring = ExpiringController(
            conversations, knowledge, self.expiring_screen, self.hub, self.tasks, self.replies, self
        )
        self.knowledge = KnowledgeController(knowledge, self.knowledge_screen, self.tasks, self)
        self.channels = ChannelsController(
            engine.channels, engine.usage, self.channels_screen, self.hub, self.tasks, self
        )
        self.usage = UsageController(engine.usage, self.usage_screen, self.hub, self.tasks, self)
        self.settings_controller = SettingsController(
            engine.session, engine.preferences, self.settings_screen, self.tasks, self.replies, self
        )
        self.inbox.count_changed.connect(lambda n: window.set_count("inbox", n))
        self.approvals.count_changed.connect(self._drafts_waiting)
        self.expiring.count_changed.connect(lambda n: window.set_count("expiring", n))
        self.channels.test_chat_requested.connect(self._test_chat)
        self.settings_controller.signed_out.connect(self._signed_out)
        self.settings_controller.saved.connect(
            lambda: window.set_shop(engine.preferences.settings.profile.name)
        )
        self.settings_controller.theme_requested.connect(self._theme)
        self.usage.warned.connect(
            lambda text: self.tray.notify("Usage limit", text, screen="usage")
        )
        for controller in (self.approvals.pane, self.expiring.pane, self.inbox.pane):
            controller.acted.connect(self._acted)

        self.tray.open_requested.connect(window.show_screen)
        window.hidden_to_tray.connect(self._hidden_to_tray)
        self._told_about_tray = False
        window.screen_changed.connect(self._screen_changed)
        self.settings_screen.set_theme(str(settings.value("window/theme", "system")))

        self.first_run = FirstRunScreen()
        self.first_run.run_locally_requested.connect(self._run_locally)
        self.first_run.sign_in_requested.connect(self._sign_in)
        self.first_run.sign_up_requested.connect(self._sign_up)

    # ---- entering -------------------------------------------------------------------

    async def enter(self) -> None:
        """Start the engine if signed in and show the screens; else the first-run screen."""
        if not self.engine.session.signed_in:
            self.window.show_page(self.first_run)
            self.ready.emit()
            return
        try:
            await self.engine.start()
        except EngineError as exc:
            self.window.banner.show_message("warning", f"{exc.message} Working offline.")
        except Exception as exc:
            self.window.banner.show_message("warning", plain_error(exc))
        self._show_screens()

    def _show_screens(self, default: str = "inbox") -> None:
        self.window.set_shop(self.engine.preferences.settings.profile.name)
        self.reload_all()
        self.window.show_workspace(default)
        # The engine's libraries, models and screens live as long as the app. Left to the
        # garbage collector, a full collection walks all of them (~300,000 objects,
        # 100-250 ms with the window frozen) whenever enough new objects pile up; frozen,
        # collections only walk what was made since. Undone in close().
        gc.freeze()
        self.ready.emit()

    def reload_all(self) -> None:
        self.inbox.reload()
        self.approvals.reload()
        self.expiring.reload()
        self.knowledge.reload()
        self.channels.reload()
        self.settings_controller.reload()

    def _after_sign_in(self) -> None:
        self.first_run.set_busy(None)
        self._show_screens("inbox")

    def _run_locally(self, shop: str) -> None:
        self.tasks.spawn(
            self.engine.session.run_locally(shop),
            done=lambda _: self._after_sign_in(),
            error=self.first_run.failed,
        )

    def _sign_in(self, url: str, email: str, password: str) -> None:
        self.tasks.spawn(
            self.engine.session.sign_in(url, email, password),
            done=lambda _: self._after_sign_in(),
            error=self.first_run.failed,
        )

    def _sign_up(self, url: str, business: str, name: str, email: str, password: str) -> None:
        self.tasks.spawn(
            self.engine.session.sign_up(url, business, name, email, password),
            done=lambda _: self._after_sign_in(),
            error=self.first_run.failed,
        )

    def _signed_out(self) -> None:
        self.window.set_sync("")
        self.window.show_page(self.first_run)

    # ---- reacting -------------------------------------------------------------------

    def _screen_changed(self, name: str) -> None:
        for controller, screen in (
            (self.inbox, "inbox"),
            (self.approvals, "approvals"),
            (self.expiring, "expiring"),
        ):
            controller.set_active(name == screen)
        self.usage.active = name == "usage"
        if name == "usage":
            self.usage.reload()
        elif name == "settings":
            self.settings_controller.reload()
        elif name == "channels":
            self.channels.reload()
        elif name == "knowledge":
            self.knowledge.reload()

    def _hidden_to_tray(self) -> None:
        if not self._told_about_tray:
            self._told_about_tray = True
            self.tray.notify(
                "Clientora is still running",
                "The assistant keeps answering. Open it again from the tray icon; choose Quit"
                " there to stop it.",
                force=True,
            )

    def _acted(self, conversation_id: int) -> None:
        self.window.banner.hide()

    def _drafts_waiting(self, count: int) -> None:
        previous = self.window.count("approvals")
        self.window.set_count("approvals", count)
        self.tray.set_waiting(count)
        if count > previous:
            plural = "s" if count != 1 else ""
            self.tray.notify(
                "Drafts waiting",
                f"{count} draft{plural} wait for your approval.",
                screen="approvals",
            )

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.sync is not None:
            self.window.set_sync(sync_words(changes.sync))
        if changes.alerts:
            # A platform's notice about a channel (a rejected template, a rate limit): the
            # channel's card keeps it; this says it once, where the owner is.
            text = changes.alerts[-1]
            self.window.banner.show_message("warning", f"{text} See Channels.")
            self.tray.notify("A channel needs a look", text, screen="channels")
        if changes.inbound:
            self.tasks.spawn(self._notify_inbound(changes.inbound))

    async def _notify_inbound(self, inbound: list[tuple[int, int]]) -> None:
        conversation_id, message_id = inbound[-1]
        conversations = self.engine.conversations
        conversation = await conversations.conversation(conversation_id)
        message = await conversations.message(message_id)
        if conversation is None or message is None:
            return
        who = conversation.customer.name or "A customer"
        more = f" (+{len(inbound) - 1} more)" if len(inbound) > 1 else ""
        self.tray.notify(f"{who}{more}", (message.text or "sent an attachment")[:200])

    def _test_chat(self) -> None:
        self.window.show_screen("inbox")
        self.inbox.open_test_chat()

    def _theme(self, scheme: str) -> None:
        app = QApplication.instance()
        chosen = next((s for s in SCHEMES if s == scheme), None)
        if isinstance(app, QApplication) and chosen is not None:
            apply_theme(app, chosen)
            self.settings.setValue("window/theme", scheme)
            for name in ("usage",):
                if self.window.current_screen == name:
                    self.usage.reload()

    # ---- closing ----------------------------------------------------------------------

    async def close(self) -> None:
        """Save what is being typed, finish running work briefly, then close the engine."""
        for controller in (self.inbox, self.approvals, self.expiring):
            controller.pane.pane.details.save_notes()
        await self.tasks.drain(timeout_s=3.0)
        self.hub.detach()
        # The controllers' refresh timers would start work on a closed task keeper.
        for timer in self.findChildren(QTimer):
            timer.stop()
        await self.tasks.close()
        self.tray.hide()
        await self.engine.close()
        gc.unfreeze()  # what the workspace held can be collected again


async def open_workspace(
    window: MainWindow, data_dir: Path, settings: QSettings, engine: Engine | None = None
) -> Workspace:
    """Open the engine (unless given one), build the workspace and enter it."""
    if engine is None:
        engine = await open_engine(data_dir)
    workspace = Workspace(engine, window, settings)
    await workspace.enter()
    return workspace
