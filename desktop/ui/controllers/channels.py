"""Connects the channels screen to the channels service: connect (with Facebook or by hand), health
checks and their fixes, disconnect, mode and threshold."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from common.away import AwayChannel
from common.channels import Platform
from common.health import ChannelHealth
from common.onboarding import MetaAsset
from common.protocol import ChannelInfo, ConnectChannel
from desktop.core.autopilot import ChannelPolicy
from desktop.core.services import ChannelsService, UsageService
from desktop.core.store import AssistantStats, Channel
from desktop.ui.controllers.meta_connect import MetaConnectFlow, UrlOpener
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.screens.channels import META_PLATFORMS, ChannelsScreen
from desktop.ui.tasks import TaskKeeper
from desktop.ui.text import PLATFORM_NAMES
from desktop.ui.widgets.common import confirm
from desktop.ui.widgets.connect_dialog import ConnectDialog
from desktop.ui.widgets.meta_connect import MetaConnectDialog
from desktop.ui.widgets.webchat_share import WebChatDialog

__all__ = ["ChannelsController"]


def _names(infos: Sequence[ChannelInfo]) -> str:
    names = [i.name or PLATFORM_NAMES.get(i.platform, i.platform) for i in infos]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


class ChannelsController(QObject):
    """Keeps the cards in step with the channel list, the relay's view of each
    channel's health and the saved policies.

    ``open_url`` opens the Facebook login in the system browser (tests give their own);
    ``meta_poll_s`` is how often the relay is asked whether the browser part is done.
    """

    loaded = Signal()
    dialog_opened = Signal(object)
    policy_saved = Signal(str)
    test_chat_requested = Signal()
    #: A channel's health arrived (from a load, a check or a fix).
    health_loaded = Signal(str)

    def __init__(
        self,
        channels: ChannelsService,
        usage: UsageService,
        screen: ChannelsScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        parent: QObject | None = None,
        *,
        open_url: UrlOpener = QDesktopServices.openUrl,
        meta_poll_s: float = 1.0,
    ) -> None:
        super().__init__(parent)
        self.channels = channels
        self.usage = usage
        self.screen = screen
        self.tasks = tasks
        self.open_url = open_url
        self.meta_poll_s = meta_poll_s
        #: Channels with a check or fix running: a plain load must not race with it.
        self._fixing: set[str] = set()
        #: The channel list changed while the screen was out of view.
        self._stale = False
        hub.changed.connect(self._on_changes)
        screen.shown.connect(self._on_shown)
        screen.meta_requested.connect(self.open_meta_connect)
        screen.connect_requested.connect(self.open_connect)
        screen.policy_changed.connect(self.set_policy)
        screen.away_changed.connect(self.set_away)
        screen.disconnect_requested.connect(self.confirm_disconnect)
        screen.test_chat_requested.connect(self.test_chat_requested)
        screen.fix_requested.connect(self.fix)
        screen.check_requested.connect(self.check_channel)
        screen.share_requested.connect(self.open_webchat_share)

    def _parent(self) -> QWidget | None:
        window = self.screen.window()
        return window if isinstance(window, QWidget) else None

    def reload(self) -> None:
        self._stale = False
        self.tasks.spawn(self._load(), key="channels-load")

    async def _load(self) -> None:
        channels = await self.channels.channels()
        self.screen.set_channels(
            channels,
            dict(self.channels.policies),
            self.channels.test_channel_id,
            dict(self.channels.away),
        )
        self.loaded.emit()
        self.tasks.spawn(
            self.usage.stats(), key="channels-stats", done=self._stats, error=lambda _: None
        )
        for channel in channels:
            if (
                channel.status != "disconnected"
                and channel.platform != "webchat"
                and channel.id not in self._fixing
            ):
                # Offline, or a relay without health: the card keeps showing its status.
                self.tasks.spawn(
                    self.channels.channel_health(channel.id),
                    key=f"health-{channel.id}",
                    done=self._health,
                    error=lambda _: None,
                )

    def _stats(self, stats: AssistantStats) -> None:
        totals = {s.channel_id: (s.compared, s.agreed) for s in stats.shadow if s.topic is None}
        self.screen.set_shadow(totals)

    def _on_changes(self, changes: ChangeSet) -> None:
        if not changes.channels:
            return
        # Rebuilding the cards costs tens of milliseconds of the window's time: out of
        # view (a burst of messages brings channel events too) it waits until shown.
        if self.screen.isVisible():
            self.reload()
        else:
            self._stale = True

    def _on_shown(self) -> None:
        if self._stale:
            self.reload()

    def _error(self, words: str) -> None:
        self.screen.banner.show_message("error", words)

    def _health(self, health: ChannelHealth) -> None:
        self.screen.set_health(health, time.time_ns() // 1_000_000)
        self.health_loaded.emit(health.channel_id)

    # ---- connecting -------------------------------------------------------------------

    def open_meta_connect(self, reconnect: Channel | None = None) -> MetaConnectDialog:
        """Connect with Facebook: the dialog opens and the browser with it.

        With ``reconnect``, the picker starts with that channel picked.
        """
        dialog = MetaConnectDialog(
            self._parent(), reconnecting=reconnect.name if reconnect is not None else None
        )

        def same_channel(asset: MetaAsset) -> bool:
            return (
                reconnect is not None
                and asset.connected
                and asset.platform == reconnect.platform
                and (reconnect.name is None or asset.name == reconnect.name)
            )

        flow = MetaConnectFlow(
            self.channels,
            dialog,
            self.tasks,
            self.open_url,
            poll_s=self.meta_poll_s,
            preselect=same_channel if reconnect is not None else None,
            parent=dialog,
        )
        flow.connected.connect(self._meta_connected)
        dialog.manual_requested.connect(lambda: self.open_connect("messenger"))
        dialog.open()
        self.dialog_opened.emit(dialog)
        flow.start()
        return dialog

    def _meta_connected(self, infos: object) -> None:
        assert isinstance(infos, list)
        self.screen.banner.show_message(
            "success",
            f"{_names(infos)} {'is' if len(infos) == 1 else 'are'} connected. New messages"
            " will arrive in the inbox.",
        )
        self.reload()

    def open_connect(self, platform: str = "messenger", name: str | None = None) -> ConnectDialog:
        """The form with ids and tokens (developers), or Viber's bot token, or web chat."""
        known: tuple[Platform, ...] = ("messenger", "instagram", "whatsapp", "viber", "webchat")
        chosen: Platform = "messenger"
        for candidate in known:
            if candidate == platform:
                chosen = candidate
        dialog = ConnectDialog(self._parent(), chosen)
        if name:
            dialog.name.setText(name)
        dialog.submitted.connect(lambda data: self._connect(dialog, data))
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _connect(self, dialog: ConnectDialog, data: object) -> None:
        assert isinstance(data, ConnectChannel)

        def connected(info: ChannelInfo) -> None:
            dialog.connected()
            name = info.name or PLATFORM_NAMES.get(info.platform, info.platform)
            self.screen.banner.show_message(
                "success", f"{name} is connected. New messages will arrive in the inbox."
            )
            self.reload()
            if info.platform == "webchat":
                self.open_webchat_share(info.id)

        self.tasks.spawn(self.channels.connect_channel(data), done=connected, error=dialog.failed)

    def open_webchat_share(self, channel_id: str) -> WebChatDialog:
        """The snippet for the shop's site, the chat's link and its QR code."""
        dialog = WebChatDialog(self.channels.relay_url, channel_id, self._parent())
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    # ---- health -----------------------------------------------------------------------

    def _channel(self, channel_id: str) -> Channel | None:
        card = self.screen.cards.get(channel_id)
        return card.channel if card is not None else None

    def fix(self, channel_id: str, action: str) -> None:
        """The one fix a card offers: reconnect (sign in again) or resubscribe."""
        if action == "resubscribe":
            self.resubscribe(channel_id)
        elif action == "reconnect":
            self.reconnect(channel_id)

    def reconnect(self, channel_id: str) -> QWidget | None:
        """Connect the channel again: with Facebook for Meta's platforms, else by token."""
        channel = self._channel(channel_id)
        if channel is None:
            return None
        if channel.platform in META_PLATFORMS:
            return self.open_meta_connect(reconnect=channel)
        return self.open_connect(channel.platform, channel.name)

    def check_channel(self, channel_id: str) -> None:
        """Have the relay ask the platform about the channel now."""
        self._run_fix(channel_id, "Checking…", self.channels.check_channel(channel_id))

    def resubscribe(self, channel_id: str) -> None:
        def done(health: ChannelHealth) -> None:
            if not health.actions:
                self.screen.banner.show_message(
                    "success",
                    "Subscribed again: the platform sends this channel's messages here.",
                    timeout_ms=5000,
                )

        self._run_fix(
            channel_id, "Resubscribing…", self.channels.resubscribe(channel_id), then=done
        )

    def _run_fix(
        self,
        channel_id: str,
        words: str,
        work: Coroutine[Any, Any, ChannelHealth],
        then: Callable[[ChannelHealth], None] | None = None,
    ) -> None:
        """Run a check or fix; its health replaces what a load would show."""
        self.tasks.cancel(f"health-{channel_id}")
        self._fixing.add(channel_id)
        self.screen.set_checking(channel_id, True, words)

        def done(health: ChannelHealth) -> None:
            self._fixing.discard(channel_id)
            self.screen.set_checking(channel_id, False)
            self._health(health)
            if then is not None:
                then(health)
            self.reload()

        def failed(words: str) -> None:
            self._fixing.discard(channel_id)
            self.screen.set_checking(channel_id, False)
            self._error(words)
            # The relay may have learnt something (a refused token) even when the call failed.
            self.reload()

        self.tasks.spawn(work, key=f"fix-{channel_id}", done=done, error=failed)

    # ---- policy and disconnecting -------------------------------------------------------

    def set_policy(self, channel_id: str, policy: object) -> None:
        assert isinstance(policy, ChannelPolicy)
        self.tasks.spawn(
            self.channels.set_policy(channel_id, policy),
            key=f"policy-{channel_id}",
            done=lambda _: self.policy_saved.emit(channel_id),
            error=self._error,
        )

    def set_away(self, channel_id: str, switch: AwayChannel) -> None:
        self.tasks.spawn(
            self.channels.set_away(channel_id, switch),
            key=f"away-{channel_id}",
            error=self._error,
        )

    def confirm_disconnect(self, channel_id: str) -> QMessageBox:
        box = confirm(
            self._parent(),
            "Disconnect channel",
            "Disconnect this channel? Its messages stop arriving and its stored credentials"
            " are deleted. Conversations already here stay.",
            "Disconnect",
            lambda: self.disconnect_channel(channel_id),
        )
        self.dialog_opened.emit(box)
        return box

    def disconnect_channel(self, channel_id: str) -> None:
        def done(_: None) -> None:
            self.screen.banner.show_message("info", "The channel is disconnected.", timeout_ms=5000)
            self.reload()

        self.tasks.spawn(self.channels.disconnect_channel(channel_id), done=done, error=self._error)
