""" "Forget this customer": confirmed, erased on the relay and on this computer, with the
signed receipt shown and copied."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from desktop.ui.workspace import Workspace
from tests.qt_helpers import qloop, qsettings, wait_for
from tests.test_ui_app import _run_locally, _say, workspace

__all__ = ["qloop", "qsettings", "workspace"]


def test_forget_this_customer_erases_everywhere_and_shows_the_receipt(
    qtbot: QtBot, workspace: Workspace
) -> None:
    """Cancel keeps the customer; Forget erases them here and at the relay, and the signed
    receipt (naming no customer) is shown and copied."""
    ws = workspace
    _run_locally(qtbot, ws)
    _say(qtbot, ws, "Ju lutem fshini të dhënat e mia")
    qtbot.waitUntil(lambda: ws.inbox.proxy.rowCount() == 1, timeout=15_000)
    ws.inbox_screen.select_row(0)
    pane = ws.inbox_screen.pane
    qtbot.waitUntil(lambda: pane.conversation is not None, timeout=10_000)
    assert pane.conversation is not None
    conversation_id = pane.conversation.id
    controller = ws.inbox.pane
    with qtbot.waitSignal(controller.dialog_opened) as asked:
        pane.details.forget.click()
    box = asked.args[0]
    assert isinstance(box, QMessageBox)
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert wait_for(qtbot, ws.engine.store.conversation(conversation_id)) is not None
    with qtbot.waitSignal(controller.dialog_opened) as asked:
        pane.details.forget.click()
    box = asked.args[0]
    forget = next(b for b in box.buttons() if b.text() == "Forget")
    with qtbot.waitSignal(controller.forgotten, timeout=30_000) as forgotten:
        forget.click()
    receipt = forgotten.args[0]
    assert receipt["receipt"] == "clientora-deletion-receipt/1"
    assert receipt["signature"] and receipt["key_id"]
    assert "Test customer" not in json.dumps(receipt)
    assert wait_for(qtbot, ws.engine.store.conversation(conversation_id)) is None
    assert json.loads(QApplication.clipboard().text()) == receipt
    qtbot.waitUntil(lambda: ws.inbox.proxy.rowCount() == 0, timeout=10_000)
