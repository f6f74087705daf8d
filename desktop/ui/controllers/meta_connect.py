"""One Connect with Facebook run: a login link, the browser, waiting, the picker, connecting."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QUrl, Signal

from common.onboarding import MetaAsset, MetaLoginStarted, MetaLoginState
from common.protocol import ChannelInfo
from desktop.core.services import ChannelsService, EngineError
from desktop.ui.tasks import TaskKeeper
from desktop.ui.widgets.meta_connect import MetaConnectDialog

__all__ = ["MetaConnectFlow", "UrlOpener"]

#: Opens an address in the system browser; False when no browser could be started.
UrlOpener = Callable[[QUrl], bool]

_NOTHING_SHARED = (
    "Facebook shared no Page, Instagram account or WhatsApp number Clientora can connect."
    " Press Connect with Facebook again and choose them in Facebook's window."
)


class MetaConnectFlow(QObject):
    """Drives a :class:`MetaConnectDialog` through the channels service's Meta login calls.

    Every failure lands in the dialog in the relay's or the engine's plain words; the
    relay connects the picks all together or not at all, so nothing is half-connected.
    """

    #: The picks are channels now.
    connected = Signal(object)  # list[ChannelInfo]

    def __init__(
        self,
        channels: ChannelsService,
        dialog: MetaConnectDialog,
        tasks: TaskKeeper,
        open_url: UrlOpener,
        *,
        poll_s: float = 1.0,
        preselect: Callable[[MetaAsset], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.channels = channels
        self.dialog = dialog
        self.tasks = tasks
        self.open_url = open_url
        self.poll_s = poll_s
        self.preselect = preselect
        self.login: MetaLoginStarted | None = None
        dialog.login_requested.connect(self.start)
        dialog.reopen_requested.connect(self._open_browser)
        dialog.connect_requested.connect(self._connect)
        dialog.finished.connect(self._closed)

    def start(self) -> None:
        """Ask for a new single-use login link (a previous wait is dropped)."""
        self.login = None
        self.dialog.set_starting()
        self.tasks.spawn(
            self._start(), key="meta-login", done=self._started, error=self.dialog.failed
        )

    async def _start(self) -> MetaLoginStarted | None:
        try:
            return await self.channels.start_meta_login()
        except EngineError as exc:
            if exc.code != "meta_login_unavailable":
                raise
            # Trying again cannot help: the server itself lacks the Facebook set-up.
            self.dialog.unavailable()
            return None

    def _started(self, login: MetaLoginStarted | None) -> None:
        if login is None:
            return
        self.login = login
        self._open_browser()
        self.tasks.spawn(
            self.channels.wait_meta_assets(login.login_id, interval_s=self.poll_s),
            key="meta-login",
            done=self._ready,
            error=self.dialog.failed,
        )

    def _open_browser(self) -> None:
        if self.login is not None:
            opened = self.open_url(QUrl(self.login.login_url))
            self.dialog.set_waiting(self.login.login_url, opened)

    def _ready(self, state: MetaLoginState) -> None:
        if not state.assets:
            self.dialog.failed(" ".join([_NOTHING_SHARED, *state.warnings]))
            return
        self.dialog.set_assets(state.assets, state.warnings, preselect=self.preselect)

    def _connect(self, picks: object) -> None:
        assert isinstance(picks, list)
        if self.login is None:
            return
        self.tasks.spawn(
            self.channels.connect_meta_assets(self.login.login_id, [str(p) for p in picks]),
            key="meta-connect",
            done=self._connected,
            error=self.dialog.connect_failed,
        )

    def _connected(self, infos: list[ChannelInfo]) -> None:
        self.dialog.connected()
        self.connected.emit(infos)

    def _closed(self, _result: int) -> None:
        # Stop waiting for the browser; the relay lets an unused login expire on its own.
        self.tasks.cancel("meta-login")
