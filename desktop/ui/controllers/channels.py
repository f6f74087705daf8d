"""Connects the channels screen to the engine: connect, disconnect, mode and threshold."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from common.protocol import ChannelInfo, ConnectChannel
from desktop.core.autopilot import ChannelPolicy
from desktop.core.engine import AssistantStats, Engine
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.screens.channels import ChannelsScreen
from desktop.ui.tasks import TaskKeeper
from desktop.ui.text import PLATFORM_NAMES
from desktop.ui.widgets.connect_dialog import ConnectDialog

__all__ = ["ChannelsController"]


class ChannelsController(QObject):
    """Keeps the cards in step with the store's channel list and the saved policies."""

    loaded = Signal()
    dialog_opened = Signal(object)
    policy_saved = Signal(str)
    test_chat_requested = Signal()

    def __init__(
        self,
        engine: Engine,
        screen: ChannelsScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.screen = screen
        self.tasks = tasks
        hub.changed.connect(self._on_changes)
        screen.connect_requested.connect(self.open_connect)
        screen.policy_changed.connect(self.set_policy)
        screen.disconnect_requested.connect(self.confirm_disconnect)
        screen.test_chat_requested.connect(self.test_chat_requested)

    def _parent(self) -> QWidget | None:
        window = self.screen.window()
        return window if isinstance(window, QWidget) else None

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="channels-load")

    async def _load(self) -> None:
        channels = await self.engine.store.channels()
        self.screen.set_channels(
            channels, dict(self.engine.settings.policies), self.engine.test_channel_id
        )
        self.loaded.emit()
        self.tasks.spawn(
            self.engine.stats(), key="channels-stats", done=self._stats, error=lambda _: None
        )

    def _stats(self, stats: AssistantStats) -> None:
        totals = {s.channel_id: (s.compared, s.agreed) for s in stats.shadow if s.topic is None}
        self.screen.set_shadow(totals)

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.channels:
            self.reload()

    def _error(self, words: str) -> None:
        self.screen.banner.show_message("error", words)

    def open_connect(self) -> ConnectDialog:
        dialog = ConnectDialog(self._parent())
        dialog.submitted.connect(lambda data: self._connect(dialog, data))
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _connect(self, dialog: ConnectDialog, data: object) -> None:
        assert isinstance(data, ConnectChannel)

        def connected(info: ChannelInfo) -> None:
            dialog.connected()
            name = info.name or PLATFORM_NAMES.get(info.platform, info.platform)
            extra = ""
            if info.platform == "webchat" and info.webhook_url:
                extra = f" Your chat page: {info.webhook_url}"
            self.screen.banner.show_message(
                "success", f"{name} is connected. New messages will arrive in the inbox.{extra}"
            )
            self.reload()

        self.tasks.spawn(self.engine.connect_channel(data), done=connected, error=dialog.failed)

    def set_policy(self, channel_id: str, policy: object) -> None:
        assert isinstance(policy, ChannelPolicy)
        self.tasks.spawn(
            self.engine.set_policy(channel_id, policy),
            key=f"policy-{channel_id}",
            done=lambda _: self.policy_saved.emit(channel_id),
            error=self._error,
        )

    def confirm_disconnect(self, channel_id: str) -> QMessageBox:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Disconnect channel",
            "Disconnect this channel? Its messages stop arriving and its stored credentials"
            " are deleted. Conversations already here stay.",
            QMessageBox.StandardButton.Cancel,
            self._parent(),
        )
        confirm = box.addButton("Disconnect", QMessageBox.ButtonRole.DestructiveRole)
        box.buttonClicked.connect(
            lambda clicked: self.disconnect_channel(channel_id) if clicked is confirm else None
        )
        box.open()
        self.dialog_opened.emit(box)
        return box

    def disconnect_channel(self, channel_id: str) -> None:
        def done(_: None) -> None:
            self.screen.banner.show_message("info", "The channel is disconnected.", timeout_ms=5000)
            self.reload()

        self.tasks.spawn(self.engine.disconnect_channel(channel_id), done=done, error=self._error)
