"""Every place a number shows agrees: customers write through the built-in test channel,
the assistant answers some on its own and leaves one for the owner, and the results cards,
the chart, the queues and the badges are compared with each other and with the store."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.core.autopilot import ChannelPolicy
from desktop.ui.workspace import Workspace
from tests.qt_helpers import qloop, qsettings, wait_for
from tests.test_ui_app import FAQ_QUESTION, _add_faq, _run_locally, workspace

__all__ = ["qloop", "qsettings", "workspace"]


def test_results_chart_queues_and_badges_agree(qtbot: QtBot, workspace: Workspace) -> None:
    """Two answered on their own, one handed to the owner (told a person will answer):
    2 answered, 1 handed off, 3 sent by the assistant in the chart (answers and the notice),
    the hand-off in the approvals badge and list and in the expiring badge and list."""
    ws = workspace
    engine = ws.engine
    _run_locally(qtbot, ws)
    _add_faq(qtbot, ws)
    channel = engine.channels.test_channel_id
    assert channel is not None
    wait_for(qtbot, engine.channels.set_policy(channel, ChannelPolicy(mode="auto", threshold=0.5)))
    ws.window.show_screen("inbox")
    chat = ws.inbox.open_test_chat()
    for n, question in enumerate((FAQ_QUESTION, "Sa kushton dërgesa në Prizren?", "Bicikleta?")):
        if n:
            chat.add_customer()
        chat.name.setText(f"Klient {n + 1}")
        chat.text.setText(question)
        chat.send.click()
        qtbot.waitUntil(chat.send.isEnabled, timeout=15_000)
        assert chat.banner.kind == "success", chat.banner.text
    chat.hide()

    def settled() -> bool:
        conversations = wait_for(qtbot, engine.store.list_conversations())
        if len(conversations) != 3:
            return False
        outbound = [
            m
            for c in conversations
            for m in wait_for(qtbot, engine.store.messages(c.id))
            if m.direction == "out" and m.status in ("sent", "delivered", "read")
        ]
        # Two answers and the hand-off notice; the hand-off still waits for the owner.
        return len(outbound) == 3 and len(wait_for(qtbot, engine.store.pending_drafts())) == 1

    qtbot.waitUntil(settled, timeout=40_000)
    pending = wait_for(qtbot, engine.store.pending_drafts())
    stats = wait_for(qtbot, engine.usage.stats())
    assert (stats.conversations, stats.answered_by_assistant, stats.auto_replies) == (3, 2, 2)
    assert stats.handed_off == 1

    # Queues and badges.
    qtbot.waitUntil(lambda: ws.window.count("approvals") == len(pending) == 1, timeout=15_000)
    qtbot.waitUntil(lambda: ws.approvals.model.rowCount() == 1, timeout=15_000)
    # Out of view the queue is counted, but its draft is opened only once the queue shows.
    assert ws.approvals.pane.conversation_id is None
    ws.window.show_screen("approvals")
    qtbot.waitUntil(ws.approvals_screen.pane.draft_panel.isVisible, timeout=10_000)
    opened = ws.approvals.pane
    assert opened.conversation_id == pending[0].conversation_id
    qtbot.waitUntil(lambda: ws.window.count("expiring") == 1, timeout=15_000)
    assert ws.expiring.model.rowCount() == 1
    ws.window.show_screen("expiring")
    ws.expiring_screen.select_row(0)
    qtbot.waitUntil(lambda: ws.expiring_screen.pane.conversation is not None, timeout=10_000)
    waiting = ws.expiring.model.at(0)
    assert waiting.customer.name == "Klient 3"
    assert waiting.id == pending[0].conversation_id

    # Results cards and the chart.
    ws.window.show_screen("usage")
    ws.usage.reload()
    usage = ws.usage_screen
    qtbot.waitUntil(lambda: usage.conversations.value.text() == "3", timeout=20_000)
    assert usage.resolved.value.text() == "2"
    assert "2 replies sent on its own" in usage.resolved.note.text()
    assert usage.delivery.value.text() == "All stored"

    def chart_total(name: str) -> float:
        for series in usage.messages_chart.chart().series():
            for bar_set in getattr(series, "barSets", list)():
                if bar_set.label() == name:
                    return float(sum(bar_set.at(i) for i in range(bar_set.count())))
        return -1.0

    assert usage.handed_off.value.text() == "1"
    qtbot.waitUntil(lambda: chart_total("Sent by the assistant") == 3, timeout=20_000)
    assert chart_total("Received") == 3
