"""After connecting the web chat, the app shows the code to paste, the link and a QR code,
and the code works against the running relay."""

from __future__ import annotations

import httpx
import segno
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.ui.widgets.webchat_share import WebChatDialog, qr_pixmap, webchat_links
from desktop.ui.workspace import Workspace
from tests.qt_helpers import qloop, qsettings
from tests.test_ui_app import _run_locally, workspace

__all__ = ["qloop", "qsettings", "workspace"]


def test_the_qr_code_draws_the_links_modules(qapp: QApplication) -> None:
    """Every module of the code is drawn where segno puts it (a phone can scan it)."""
    url = "http://127.0.0.1:8700/webchat/ch-1"
    matrix = segno.make(url, error="m").matrix
    side = (len(matrix) + 8) * 6
    image = qr_pixmap(url, side).toImage()
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            pixel = QColor(image.pixel((x + 4) * 6 + 3, (y + 4) * 6 + 3))
            assert (pixel.lightness() < 128) == bool(dark)
    page, snippet = webchat_links("https://relay.example.com/", "ch 1")
    assert page == "https://relay.example.com/webchat/ch 1"
    assert snippet == f'<script src="{page}/embed.js" async></script>'


def test_connecting_the_web_chat_shows_code_link_and_qr(qtbot: QtBot, workspace: Workspace) -> None:
    """Connect a web chat: the sharing dialog opens by itself; the copied code's script and
    the link are served by the relay; the card offers the dialog again."""
    ws = workspace
    _run_locally(qtbot, ws)
    ws.window.show_screen("channels")
    connect = ws.channels.open_connect("webchat")
    connect.name.setText("Butiku Arta – web")
    with qtbot.waitSignal(ws.channels.dialog_opened, timeout=20_000) as opened:
        connect.connect_button.click()
    share = opened.args[0]
    assert isinstance(share, WebChatDialog)
    qtbot.waitExposed(share)
    assert not share.qr.pixmap().isNull()
    share.copy_snippet.click()
    assert QApplication.clipboard().text() == share.snippet_text
    assert share.copied.text() == "Code copied."
    share.copy_link.click()
    assert QApplication.clipboard().text() == share.page_url == share.link.text()
    with httpx.Client() as client:
        assert client.get(share.page_url).status_code == 200
        script = client.get(f"{share.page_url}/embed.js")
    assert script.status_code == 200
    assert share.page_url in script.text
    share.reject()
    channel_id = share.page_url.rsplit("/", 1)[1]
    qtbot.waitUntil(lambda: channel_id in ws.channels_screen.cards, timeout=15_000)
    card = ws.channels_screen.cards[channel_id]
    with qtbot.waitSignal(ws.channels.dialog_opened) as again:
        card.share_button.click()
    assert again.args[0].page_url == share.page_url
    again.args[0].reject()
