"""Widgets on their own: the draft panel, composer, details, forms, delegates, window memory."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QListView, QStyleOptionViewItem, QWidget
from pytestqt.qtbot import QtBot

from common.events import Attachment
from common.protocol import ConnectChannel
from desktop.core.autopilot import ChannelPolicy
from desktop.core.drafting.confidence import AUTO_SEND_AT
from desktop.core.engine import DayUsage, EngineError, UsageReport
from desktop.core.settings import AppSettings
from desktop.core.store import (
    AssistantStats,
    Channel,
    Conversation,
    Customer,
    Draft,
    Message,
    MessageExtras,
    ShadowScore,
)
from desktop.ui.delegates.conversation import ConversationDelegate
from desktop.ui.main_window import MainWindow
from desktop.ui.models.conversations import ConversationListModel
from desktop.ui.screens.channels import ChannelsScreen
from desktop.ui.screens.first_run import FirstRunScreen
from desktop.ui.screens.settings import SettingsScreen
from desktop.ui.screens.usage import UsageScreen, duration_words
from desktop.ui.text import countdown, fold, initials, plain_error, send_error_words, short_time
from desktop.ui.widgets.connect_dialog import ConnectDialog
from desktop.ui.widgets.conversation_pane import ConversationPane
from desktop.ui.widgets.kb_forms import FaqDialog, FaqValues, OfferDialog
from desktop.ui.widgets.thread import ThreadView
from tests.qt_helpers import HOUR, qsettings

__all__ = ["qsettings"]

NOW = time.time_ns() // 1_000_000


def _conversation(cid: int = 1, **changes: object) -> Conversation:
    values: dict[str, object] = {
        "id": cid,
        "channel_id": "ch-1",
        "channel_name": "Butiku Arta",
        "platform": "messenger",
        "customer": Customer(
            id=cid,
            channel_id="ch-1",
            platform="messenger",
            platform_id=f"psid-{cid}",
            name="Arta Krasniqi",
            phone=None,
            avatar_url=None,
            subscribed=None,
        ),
        "status": "open",
        "snoozed_until_ms": None,
        "unread": 2,
        "labels": ("vip",),
        "notes": "",
        "assistant_paused": False,
        "paused_reason": None,
        "last_inbound_ms": NOW - HOUR,
        "window_deadline_ms": NOW + 2 * HOUR,
        "last_activity_ms": NOW - HOUR,
        "last_message_id": 10,
        "last_message_preview": "A keni çanta të zeza?",
        "last_message_direction": "in",
        "last_message_status": "received",
        "has_pending_draft": True,
        "created_at_ms": NOW - 2 * HOUR,
    }
    values.update(changes)
    return Conversation(**values)  # type: ignore[arg-type]


def _draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "id": 7,
        "conversation_id": 1,
        "for_message_id": 10,
        "text": "Po, i kemi në ngjyrë të zezë për 45 €.",
        "language": "sq",
        "cited_chunk_ids": ("item1#abc",),
        "confidence": 0.86,
        "grounded": True,
        "handoff": False,
        "handoff_reason": None,
        "hold_reason": None,
        "state": "pending",
        "drafter": "extractive",
        "model": None,
        "error": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "message_id": None,
        "created_at_ms": NOW,
        "updated_at_ms": NOW,
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


def _message(mid: int, text: str, **changes: object) -> Message:
    values: dict[str, object] = {
        "id": mid,
        "conversation_id": 1,
        "direction": "in",
        "author": "customer",
        "kind": "message",
        "platform_id": f"m{mid}",
        "text": text,
        "attachments": (),
        "extras": MessageExtras(),
        "status": "received",
        "error_code": None,
        "error_message": None,
        "send_id": None,
        "idempotency_key": None,
        "automatic": False,
        "device_id": None,
        "tag": None,
        "reply_to": None,
        "in_reply_to_id": None,
        "draft_id": None,
        "reaction": None,
        "deleted": False,
        "edited_at_ms": None,
        "attempts": 0,
        "next_attempt_ms": None,
        "timestamp_ms": NOW - HOUR + mid,
        "created_at_ms": NOW,
        "updated_at_ms": NOW,
    }
    values.update(changes)
    return Message(**values)  # type: ignore[arg-type]


# ---- words ----------------------------------------------------------------------------


def test_words_for_times_countdowns_and_names() -> None:
    """Countdowns, times and initials read the way an owner says them."""
    assert countdown(NOW + 90 * 60_000, NOW) == "1h 30m left"
    assert countdown(NOW + 20 * HOUR, NOW) == "20h left"
    assert countdown(NOW + 30_000, NOW) == "1m left"
    assert countdown(NOW - 1, NOW) == "Window closed"
    assert countdown(None, NOW) is None
    assert short_time(NOW, NOW).count(":") == 1
    assert initials("Arta Krasniqi") == "AK"
    assert initials("Марко") == "М"
    assert initials(None) == "?"
    assert fold("Çështje ĐORĐE Марко") == "ceshtje djordje marko"
    # Marks are dropped in any script; a joiner that is no mark (U+034F) and letters stay.
    assert fold("Ά naïve ΈΛΛΗΝΙΚΆ") == "α naive ελληνικα"
    assert fold("a\u034fb 中文") == "a\u034fb 中文"


def test_errors_are_sentences_never_tracebacks() -> None:
    """Engine errors keep their words; send codes get advice; unknown errors a summary."""
    assert plain_error(EngineError("The relay refused the password.")) == (
        "The relay refused the password."
    )
    assert plain_error(ValueError("a FAQ needs both a question and an answer")) == (
        "A FAQ needs both a question and an answer."
    )
    assert "Traceback" not in plain_error(RuntimeError("boom"))
    assert "24 hours" in send_error_words("window_closed", "(#10) outside window")
    assert send_error_words("bad_request", "The text is empty.") == "The text is empty."
    assert duration_words(75) == "1 min 15 s"
    assert duration_words(None) == "–"


# ---- conversation pane ---------------------------------------------------------------


def test_draft_panel_approves_edited_text_with_ctrl_enter(qtbot: QtBot) -> None:
    """Edit changes the draft; Ctrl+Enter approves it with the edited text."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.resize(1000, 700)
    pane.show()
    pane.set_conversation(_conversation())
    pane.set_draft(_draft(), [("item1#abc", "FAQ: Çanta")])
    panel = pane.draft_panel
    assert panel.isVisible()
    assert panel.confidence.text() == "86% sure"
    assert [chip.text() for chip in panel.chips] == ["FAQ: Çanta"]
    with qtbot.waitSignal(pane.citation_requested) as cited:
        panel.chips[0].click()
    assert cited.args == ["item1#abc"]
    QTest.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    assert not panel.editor.isReadOnly()
    panel.editor.setPlainText("Po, i kemi! Çmimi 45 €.")
    with qtbot.waitSignal(pane.approve_requested) as approved:
        QTest.keyClick(panel.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert approved.args == [7, "Po, i kemi! Çmimi 45 €."]
    assert not panel.approve_button.isEnabled()  # busy until the engine answers


def test_handoff_draft_says_why_and_composer_sends_by_hand(qtbot: QtBot) -> None:
    """A hand-off draft shows its reason; text in the composer wins over the draft."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.set_conversation(_conversation())
    pane.set_draft(
        _draft(handoff=True, handoff_reason="the customer asks for a refund", confidence=0.1)
    )
    panel = pane.draft_panel
    assert panel.title.text() == "A person should answer"
    assert panel.reason.text().startswith("The customer asks for a refund.")
    assert panel.confidence.text() == "Hand-off"
    pane.composer.editor.setPlainText("Më vjen keq! Do t'ju kthejmë paratë.")
    with qtbot.waitSignal(pane.send_requested) as sent:
        pane.send_or_approve()
    assert sent.args == ["Më vjen keq! Do t'ju kthejmë paratë."]
    pane.composer.sent()
    assert pane.composer.text == ""


def test_saved_reply_is_inserted_into_the_composer(qtbot: QtBot) -> None:
    """Choosing a saved reply puts its text where the owner is writing."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.set_saved_replies([("Hvala", "Hvala na poruci!")])
    actions = [a for a in pane.composer.saved_menu.actions() if a.text() == "Hvala"]
    actions[0].trigger()
    assert pane.composer.text == "Hvala na poruci!"
    with qtbot.waitSignal(pane.save_reply_requested) as saved:
        next(a for a in pane.composer.saved_menu.actions() if a.text().startswith("Save")).trigger()
    assert saved.args == ["Hvala na poruci!"]


def test_details_pane_edits_labels_notes_and_status(qtbot: QtBot) -> None:
    """Labels are added with Enter and removed by their chip; notes save after a pause."""
    pane = ConversationPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.set_conversation(_conversation())
    details = pane.details
    details.new_label.setText("  wholesale ")
    with qtbot.waitSignal(details.labels_changed) as changed:
        QTest.keyClick(details.new_label, Qt.Key.Key_Return)
    assert changed.args == [["vip", "wholesale"]]
    with qtbot.waitSignal(details.notes_changed, timeout=3000) as noted:
        QTest.keyClicks(details.notes, "Prefers Viber")
    assert noted.args == ["Prefers Viber"]
    with qtbot.waitSignal(details.status_requested) as status:
        pane.resolve_button.click()
    assert status.args == ["resolved", None]
    with qtbot.waitSignal(details.status_requested) as snoozed:
        details.snooze_for(2)
    assert snoozed.args[0] == "snoozed" and snoozed.args[1] > NOW
    pane.set_conversation(_conversation(assistant_paused=True, paused_reason="owner_reply"))
    assert details.hand_back.isVisibleTo(details)
    assert "You replied" in details.assistant.text()


def _shown_thread(qtbot: QtBot, messages: list[Message]) -> tuple[ThreadView, QStyleOptionViewItem]:
    """A thread view on screen with ``messages``, and the style its rows are laid out with."""
    view = ThreadView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    view.set_messages(1, messages)
    qtbot.waitUntil(lambda: view.indexAt(QPoint(10, 10)).isValid())
    option = QStyleOptionViewItem()
    option.initFrom(view)
    return view, option


def _click(view: ThreadView, row: int, button: QRect) -> None:
    """Click ``button`` (in row coordinates) of the thread's ``row``."""
    QTest.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        view.visualRect(view.messages.index(row, 0)).topLeft() + button.center(),
    )


def _failed(message_id: int, text: str, code: str, reason: str = "") -> Message:
    return _message(
        message_id,
        text,
        direction="out",
        author="owner",
        status="failed",
        error_code=code,
        error_message=reason or None,
    )


def test_failed_message_shows_the_reason_and_retry(qtbot: QtBot) -> None:
    """A failed send says why in plain words; clicking Retry asks for a retry."""
    photo = _message(
        2,
        "Si kjo?",
        attachments=(Attachment(type="image", url="https://example.com/a.jpg", filename="a.jpg"),),
    )
    failed = _failed(3, "Po, e kemi!", "window_closed", "(#10) outside window")
    view, option = _shown_thread(qtbot, [_message(1, "Përshëndetje"), photo, failed])
    retry = view.bubbles.retry_rect(view.messages.index(2, 0), option)
    assert retry is not None
    with qtbot.waitSignal(view.retry_requested) as asked:
        _click(view, 2, retry)
    assert asked.args == [3]
    image = view.grab().toImage()
    assert not image.isNull()


def test_a_reply_of_unknown_outcome_can_be_marked_as_arrived(qtbot: QtBot) -> None:
    """A reply the relay lost track of offers "It arrived" beside Retry; a reply refused
    for another reason offers only Retry."""
    lost = _failed(2, "Po, e kemi!", "outcome_unknown", "may or may not have arrived")
    refused = _failed(3, "Edhe kjo", "too_long")
    view, option = _shown_thread(qtbot, [_message(1, "Përshëndetje"), lost, refused])
    lost_index, refused_index = view.messages.index(1, 0), view.messages.index(2, 0)
    assert view.bubbles.arrived_rect(refused_index, option) is None
    arrived = view.bubbles.arrived_rect(lost_index, option)
    retry = view.bubbles.retry_rect(lost_index, option)
    assert arrived is not None and retry is not None and not arrived.intersects(retry)
    with qtbot.waitSignal(view.arrived_confirmed) as asked:
        _click(view, 1, arrived)
    assert asked.args == [2]


def test_a_row_waiting_for_an_answer_says_so(qtbot: QtBot) -> None:
    """A draft's row previews its text; a hand-off (no text) says the owner must answer."""
    delegate = ConversationDelegate()
    palette = QApplication.palette()
    conversation = _conversation()
    assert delegate.preview(conversation, _draft(), palette)[0] == (
        "Draft: Po, i kemi në ngjyrë të zezë për 45 €."
    )
    handoff = _draft(text="", handoff=True, handoff_reason="asks for a person")
    assert delegate.preview(conversation, handoff, palette)[0] == (
        "No draft: this one needs your answer"
    )


def test_conversation_rows_paint_badges_without_errors(qtbot: QtBot) -> None:
    """Rows with unread counts, drafts, countdowns and labels paint (light and dark)."""
    model = ConversationListModel()
    model.set_conversations(
        [
            _conversation(1),
            _conversation(
                2,
                unread=0,
                window_deadline_ms=NOW - 1,
                status="waiting",
                last_message_direction="out",
                last_message_status="failed",
            ),
            _conversation(
                3,
                unread=120,
                assistant_paused=True,
                has_pending_draft=False,
                labels=("a", "b", "c"),
                window_deadline_ms=None,
            ),
        ]
    )
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegate(ConversationDelegate(view))
    view.resize(360, 300)
    view.show()
    view.setCurrentIndex(model.index(0, 0))
    assert not view.grab().toImage().isNull()


def test_conversation_rows_show_each_change_and_the_clock(qtbot: QtBot) -> None:
    """Rows repainted unchanged look the same; a changed conversation, a new search word or
    a minute off the countdown shows at once (rows are kept drawn between repaints)."""
    clock = [NOW]
    model = ConversationListModel()
    model.set_conversations([_conversation(1), _conversation(2, last_activity_ms=NOW - 2 * HOUR)])
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegate(ConversationDelegate(view, clock=lambda: clock[0]))
    view.resize(360, 200)
    view.show()

    def row(n: int) -> QImage:
        return view.grab(view.visualRect(model.index(n, 0))).toImage()

    first, second = row(0), row(1)
    assert row(0) == first
    model.upsert([_conversation(1, unread=0)])
    assert row(model.row_of(1) or 0) != first
    assert row(model.row_of(2) or 0) == second
    read = row(model.row_of(1) or 0)
    clock[0] += 10 * 60_000  # the countdown chip reads ten minutes less
    assert row(model.row_of(1) or 0) != read


# ---- forms ----------------------------------------------------------------------------


def test_connect_dialog_checks_each_platforms_fields(qtbot: QtBot) -> None:
    """Wrong ids and tokens are named before anything is sent; good ones make a request."""
    dialog = ConnectDialog()
    qtbot.addWidget(dialog)
    dialog.set_platform("viber")
    dialog.field("auth_token").setText("not-a-token")
    submitted: list[object] = []
    dialog.submitted.connect(submitted.append)
    dialog.connect_button.click()
    assert not submitted
    assert "Bot token" in dialog.problem.text()
    dialog.field("auth_token").setText("4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f")
    dialog.connect_button.click()
    assert len(submitted) == 1
    request = submitted[0]
    assert isinstance(request, ConnectChannel)
    assert request.platform == "viber"
    dialog.failed("The token was refused.")
    assert dialog.banner.text == "The token was refused."
    dialog.set_platform("whatsapp")
    dialog.field("phone_number_id").setText("12ab")
    assert not dialog.validate()
    assert "only digits" in dialog.problem.text()


def test_faq_and_offer_forms_refuse_missing_or_backwards_values(qtbot: QtBot) -> None:
    """A FAQ needs a question and an answer; an offer cannot end before it starts."""
    faq = FaqDialog()
    qtbot.addWidget(faq)
    faq.question.setText("A dërgoni në Pejë?")
    assert not faq.validate()
    assert "answer" in faq.problem.text()
    faq.answer.setPlainText("Po, për 2 €.")
    faq.alternatives.setPlainText("Dostava u Peć?\n\nDo you ship to Peja?")
    with qtbot.waitSignal(faq.submitted) as sent:
        faq.save_button.click()
    values = sent.args[0]
    assert isinstance(values, FaqValues)
    assert values.alternatives == ("Dostava u Peć?", "Do you ship to Peja?")
    offer = OfferDialog()
    qtbot.addWidget(offer)
    offer.title.setText("Çanta")
    offer.starts.setChecked(True)
    offer.ends.setChecked(True)
    offer.start_date.setDate(offer.start_date.date().addDays(10))
    offer.end_date.setDate(offer.start_date.date().addDays(-5))
    assert not offer.validate()
    assert "cannot end before" in offer.problem.text()
    offer.ends.setChecked(False)
    assert offer.validate()
    assert offer.values().valid_until is None


def test_settings_screen_round_trips_and_checks_hours(qtbot: QtBot) -> None:
    """Settings come back as edited; unreadable opening hours are pointed out."""
    screen = SettingsScreen()
    qtbot.addWidget(screen)
    screen.set_settings(AppSettings())
    screen.shop_name.setText("Butiku Arta")
    screen.languages["en"].setChecked(False)
    screen.topics["warranty"].setChecked(True)
    screen.hours.setText("Mon-Fri 9-18, Sat 10-14")
    screen.api_key.setText("sk-test")
    values = screen.values()
    assert values is not None
    assert values.profile.name == "Butiku Arta"
    assert values.profile.languages == ("sq", "sr")
    assert "warranty" in values.profile.handoff_topics
    assert values.hours.spec == "Mon-Fri 9-18, Sat 10-14"
    assert values.ai.api_key == "sk-test"
    screen.hours.setText("every day")
    assert screen.values() is None
    assert screen.hours_error.text().startswith("Cannot read opening hours")


def test_first_run_checks_fields_before_asking(qtbot: QtBot) -> None:
    """Sign-in needs a relay address and an e-mail; the shop needs a name."""
    screen = FirstRunScreen()
    qtbot.addWidget(screen)
    screen.local_button.click()
    assert "shop's name" in screen.banner.text
    screen.in_url.setText("relay.example.com")
    screen.in_email.setText("arta@shop")
    screen.sign_in_button.click()
    assert "https://" in screen.banner.text and "e-mail" in screen.banner.text
    screen.in_url.setText("https://relay.example.com")
    screen.in_email.setText("arta@shop.com")
    screen.in_password.setText("secret-123")
    with qtbot.waitSignal(screen.sign_in_requested) as asked:
        screen.sign_in_button.click()
    assert asked.args == ["https://relay.example.com", "arta@shop.com", "secret-123"]
    assert not screen.local_button.isEnabled()
    screen.failed("Wrong e-mail or password.")
    assert screen.local_button.isEnabled()


# ---- channels and usage --------------------------------------------------------------


def test_channel_card_switches_mode_and_threshold(qtbot: QtBot) -> None:
    """Choosing auto shows the threshold; each change asks for the new policy."""
    screen = ChannelsScreen()
    qtbot.addWidget(screen)
    channel = Channel(
        id="ch-1",
        platform="viber",
        name="Viber",
        status="needs_reconnect",
        detail=None,
        updated_at_ms=NOW,
    )
    screen.set_channels([channel], {}, None)
    card = screen.cards["ch-1"]
    assert card.badge.text() == "Token expired"
    assert not card.threshold_row.isVisibleTo(card)
    with qtbot.waitSignal(screen.policy_changed) as changed:
        card.set_mode("auto")
    assert changed.args == ["ch-1", ChannelPolicy(mode="auto", threshold=AUTO_SEND_AT)]
    assert card.threshold_row.isVisibleTo(card)
    with qtbot.waitSignal(screen.policy_changed) as moved:
        card.threshold.setValue(90)
    assert moved.args[1] == ChannelPolicy(mode="auto", threshold=0.9)


class _WindowsShown(QObject):
    """Names the widgets shown as windows of their own while it filters the app's events."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            self.shown.append(type(watched).__name__)
        return False


def test_channel_cards_open_no_windows_of_their_own(qtbot: QtBot) -> None:
    """Building the cards shows nothing outside the screen: a part shown before it had a
    parent was a window of its own for a moment (and painted as one)."""
    screen = ChannelsScreen()
    qtbot.addWidget(screen)
    screen.show()
    windows = _WindowsShown()
    QApplication.instance().installEventFilter(windows)  # type: ignore[union-attr]
    channels = [
        Channel(
            id=f"ch-{platform}",
            platform=platform,  # type: ignore[arg-type]
            name=platform,
            status=status,
            detail="The token expired." if status == "needs_reconnect" else None,
            updated_at_ms=NOW,
        )
        for platform, status in (
            ("messenger", "connected"),
            ("viber", "needs_reconnect"),
            ("webchat", "connected"),
        )
    ]
    try:
        screen.set_channels(channels, {}, None)
    finally:
        QApplication.instance().removeEventFilter(windows)  # type: ignore[union-attr]
    assert windows.shown == []
    card = screen.cards["ch-viber"]
    assert card.health.isVisibleTo(card)
    assert card.advice.isVisibleTo(card)
    webchat = screen.cards["ch-webchat"]
    assert not webchat.health.isVisibleTo(webchat)


def test_usage_screen_warns_before_a_limit(qtbot: QtBot) -> None:
    """At 80 % of a monthly limit the screen warns; charts get one bar per day."""
    screen = UsageScreen()
    qtbot.addWidget(screen)
    days = [
        DayUsage(
            day=f"2026-11-{d:02d}",
            inbound=5 * d,
            outbound_auto=d,
            outbound_manual=2,
            ai_tokens=1000 * d,
            cost_usd=0.01 * d,
        )
        for d in range(1, 8)
    ]
    report = UsageReport(
        days=days,
        limits={"outbound_messages": 1000, "ai_tokens": 2_000_000, "ai_cost_usd": 5.0},
        month={"outbound_messages": 850, "ai_tokens": 12_000, "ai_cost_usd": 0.2},
        resets_on="2026-12-01",
    )
    screen.set_report(report, [])
    assert screen.warning.isVisibleTo(screen)
    assert "Messages sent this month: 850 of 1,000" in screen.warning.text
    assert screen.meters["outbound_messages"].bar.property("level") == "warning"
    assert screen.messages_chart.chart().series()
    stats = AssistantStats(
        conversations=10,
        answered_by_assistant=6,
        auto_replies=9,
        handed_off=2,
        median_first_response_s=42.0,
        shadow=(ShadowScore(channel_id="ch-1", topic=None, compared=10, agreed=8),),
        relay_head=120,
        stored_cursor=120,
    )
    screen.set_stats(stats, {"ch-1": "Butiku Viber"})
    assert screen.resolved.value.text() == "6"
    assert "60%" in screen.resolved.note.text()
    assert "Every message" in screen.delivery.note.text()


# ---- the window -------------------------------------------------------------------------


def test_window_remembers_size_place_and_last_screen(qtbot: QtBot, qsettings: QSettings) -> None:
    """A new window opens where the last one was closed, on the same screen."""
    first = MainWindow(qsettings)
    qtbot.addWidget(first)
    for name in ("inbox", "knowledge"):
        first.add_screen(name, name.title(), "nav-inbox", QLabel(name))
    first.show_workspace()
    first.setMinimumSize(0, 0)  # the offscreen screen is only 800x600
    first.resize(701, 501)
    with qtbot.waitActive(first):
        first.show()
        first.activateWindow()
    QTest.keyClick(first, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert first.current_screen == "knowledge"
    first.set_count("inbox", 3)
    assert first.count("inbox") == 3
    first.close()
    second = MainWindow(qsettings)
    qtbot.addWidget(second)
    for name in ("inbox", "knowledge"):
        second.add_screen(name, name.title(), "nav-inbox", QLabel(name))
    second.show_workspace()
    second.setMinimumSize(0, 0)
    second.restore_geometry()
    assert (second.size().width(), second.size().height()) == (701, 501)
    assert second.current_screen == "knowledge"
