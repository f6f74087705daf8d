"""Qt models over the real store: order kept under updates, filters, queues, knowledge tables."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListView
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.core.kb import KnowledgeBase
from desktop.core.store import ConversationQuery, NewDraft, Store
from desktop.ui.models.conversations import (
    CONVERSATION_ROLE,
    ConversationFilter,
    ConversationListModel,
)
from desktop.ui.models.drafts import DRAFT_ROLE, ApprovalQueueModel
from desktop.ui.models.knowledge import ITEM_ROLE, HitsModel, KnowledgeItemsModel
from desktop.ui.models.messages import MESSAGE_ROLE, MessageListModel
from tests.qt_helpers import HOUR, EventLog, check_model, qloop, qsettings, store, wait_for

__all__ = ["qloop", "qsettings", "store"]

NOW = time.time_ns() // 1_000_000


def _fill(qtbot: QtBot, store: Store) -> EventLog:
    log = EventLog(NOW - 10 * HOUR)
    frames = [
        log.channel("ch-messenger", "messenger", "Butiku Arta"),
        log.channel("ch-viber", "viber", "Butiku Viber"),
        log.message(
            "Përshëndetje, a keni çanta?", customer="u1", name="Arta Krasniqi", at_ms=NOW - 5 * HOUR
        ),
        log.message(
            "Zdravo, da li imate patike?",
            customer="u2",
            name="Марко Петровић",
            channel="ch-viber",
            platform="viber",
            at_ms=NOW - 3 * HOUR,
        ),
        log.message(
            "Hello, do you ship to Peja?", customer="u3", name="John Smith", at_ms=NOW - 1 * HOUR
        ),
    ]
    wait_for(qtbot, store.apply_events(frames))
    return log


def _names(model: ConversationListModel | ConversationFilter) -> list[str]:
    return [
        model.index(row, 0).data(CONVERSATION_ROLE).customer.name for row in range(model.rowCount())
    ]


def test_conversation_model_keeps_newest_first_as_messages_arrive(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """A new message moves its conversation to the top; rows move instead of a reset."""
    log = _fill(qtbot, store)
    model = ConversationListModel()
    check_model(qtmodeltester, model)
    model.set_conversations(wait_for(qtbot, store.list_conversations()))
    assert _names(model) == ["John Smith", "Марко Петровић", "Arta Krasniqi"]
    resets: list[bool] = []
    model.modelReset.connect(lambda: resets.append(True))
    wait_for(
        qtbot,
        store.apply_events(
            [log.message("A jeni aty?", customer="u1", name="Arta Krasniqi", at_ms=NOW)]
        ),
    )
    arta = [
        c for c in wait_for(qtbot, store.list_conversations()) if c.customer.name == "Arta Krasniqi"
    ]
    with qtbot.waitSignal(model.rowsMoved):
        model.upsert(arta)
    assert _names(model) == ["Arta Krasniqi", "John Smith", "Марко Петровић"]
    assert model.get(arta[0].id) == arta[0]
    assert model.row_of(arta[0].id) == 0
    assert not resets


def test_conversation_model_inserts_and_removes_in_place(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """A conversation new to the list is inserted at its place; an erased one is removed."""
    log = _fill(qtbot, store)
    model = ConversationListModel()
    check_model(qtmodeltester, model)
    everything = wait_for(qtbot, store.list_conversations())
    model.set_conversations(everything[1:])
    model.upsert(everything[:1])
    assert _names(model) == ["John Smith", "Марко Петровић", "Arta Krasniqi"]
    model.remove([everything[1].id])
    assert _names(model) == ["John Smith", "Arta Krasniqi"]
    assert model.row_of(everything[2].id) == 1
    wait_for(
        qtbot,
        store.apply_events(
            [log.message("Mirëdita", customer="u9", name="Besa", at_ms=NOW - 2 * HOUR)]
        ),
    )
    besa = [c for c in wait_for(qtbot, store.list_conversations()) if c.customer.name == "Besa"]
    model.upsert(besa)
    assert _names(model) == ["John Smith", "Besa", "Arta Krasniqi"]


def test_conversation_model_takes_a_new_list_row_by_row(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """A reloaded list replaces the rows in place: gone ones removed, new ones inserted,
    unchanged ones untouched, and no reset (the selection stays where it was)."""
    _fill(qtbot, store)
    model = ConversationListModel("window")
    check_model(qtmodeltester, model)
    everything = wait_for(qtbot, store.list_conversations())
    model.set_conversations(everything[:2])
    events: list[str] = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.dataChanged.connect(lambda *_: events.append("changed"))
    model.replace(everything[:2])
    assert events == []
    model.replace(everything[1:])
    fresh = ConversationListModel("window")
    fresh.set_conversations(everything[1:])
    assert model.ids() == fresh.ids()
    assert "reset" not in events


def test_window_order_puts_the_soonest_deadline_first(qtbot: QtBot, store: Store) -> None:
    """The expiring list orders by the messaging window's deadline; no window comes last."""
    _fill(qtbot, store)
    model = ConversationListModel("window")
    model.set_conversations(wait_for(qtbot, store.list_conversations()))
    assert _names(model) == ["Arta Krasniqi", "John Smith", "Марко Петровић"]  # Viber: none


def test_filter_by_channel_status_and_search_ignores_accents_and_script(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """Search folds case, diacritics and Cyrillic; channel and status filters narrow."""
    _fill(qtbot, store)
    model = ConversationListModel()
    model.set_conversations(wait_for(qtbot, store.list_conversations()))
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    check_model(qtmodeltester, proxy)
    proxy.set_search("marko")
    assert _names(proxy) == ["Марко Петровић"]
    proxy.set_search("CANTA")
    assert _names(proxy) == ["Arta Krasniqi"]
    proxy.set_search("")
    proxy.set_filter(channel_id="ch-viber")
    assert _names(proxy) == ["Марко Петровић"]
    proxy.set_filter(statuses=("resolved",))
    assert _names(proxy) == []
    proxy.set_filter(unread_only=True)
    assert len(_names(proxy)) == 3


def test_full_text_matches_are_added_to_the_search(qtbot: QtBot, store: Store) -> None:
    """Ids found by the store's full-text search show rows the quick search missed."""
    log = _fill(qtbot, store)
    wait_for(
        qtbot,
        store.apply_events(
            [
                log.message(
                    "Ju lutem, sa kushton dërgesa?",
                    customer="u3",
                    name="John Smith",
                    at_ms=NOW - 50 * 60_000,
                ),
                log.message("Thanks!", customer="u3", name="John Smith", at_ms=NOW - 40 * 60_000),
            ]
        ),
    )
    model = ConversationListModel()
    model.set_conversations(wait_for(qtbot, store.list_conversations()))
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    proxy.set_search("dërgesa")
    assert _names(proxy) == []  # the newest message no longer mentions it
    found = wait_for(qtbot, store.list_conversations(ConversationQuery(text="dërgesa")))
    proxy.add_matches(c.id for c in found)
    assert _names(proxy) == ["John Smith"]
    assert proxy.row_of(found[0].id) == 0


def test_message_model_updates_a_receipt_in_place(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """A delivery receipt changes the message's row; new messages are inserted in order."""
    log = _fill(qtbot, store)
    arta = next(
        c for c in wait_for(qtbot, store.list_conversations()) if c.customer.name == "Arta Krasniqi"
    )
    frame, mid = log.sent("Po, i kemi!", customer="u1", at_ms=NOW - 4 * HOUR)
    wait_for(qtbot, store.apply_events([frame]))
    model = MessageListModel()
    check_model(qtmodeltester, model)
    model.set_messages(arta.id, wait_for(qtbot, store.messages(arta.id)))
    assert [m.text for m in model.messages()] == ["Përshëndetje, a keni çanta?", "Po, i kemi!"]
    wait_for(qtbot, store.apply_events([log.status("read", [mid], customer="u1")]))
    updated = wait_for(qtbot, store.messages(arta.id))
    with qtbot.waitSignal(model.dataChanged):
        model.upsert(updated)
    assert model.index(1, 0).data(MESSAGE_ROLE).status == "read"
    assert model.rowCount() == 2


def test_approval_queue_rows_carry_draft_and_conversation(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """Each row of the queue answers with its draft and its conversation."""
    _fill(qtbot, store)
    conversations = wait_for(qtbot, store.list_conversations())
    for c in conversations[:2]:
        wait_for(
            qtbot,
            store.add_draft(
                NewDraft(
                    conversation_id=c.id, text=f"Reply {c.id}", drafter="extractive", confidence=0.9
                )
            ),
        )
    drafts = wait_for(qtbot, store.pending_drafts())
    by_id = {c.id: c for c in conversations}
    model = ApprovalQueueModel()
    check_model(qtmodeltester, model)
    model.set_items([(d, by_id[d.conversation_id]) for d in drafts])
    assert model.rowCount() == 2
    first = model.index(0, 0)
    assert first.data(DRAFT_ROLE).text.startswith("Reply")
    assert first.data(CONVERSATION_ROLE).id == first.data(DRAFT_ROLE).conversation_id
    assert model.row_of_conversation(drafts[1].conversation_id) == 1


def test_approval_queue_changes_by_rows_so_the_open_draft_stays_selected(
    qtbot: QtBot, store: Store, qtmodeltester: ModelTester
) -> None:
    """A draft arriving or leaving moves rows, not the whole queue: the row selected stays
    selected (the open thread is not reloaded); only a new order resets the model."""
    _fill(qtbot, store)
    conversations = wait_for(qtbot, store.list_conversations())
    for conversation in conversations:
        wait_for(
            qtbot,
            store.add_draft(
                NewDraft(
                    conversation_id=conversation.id,
                    text=f"Reply {conversation.id}",
                    drafter="extractive",
                )
            ),
        )
    by_conversation = {d.conversation_id: d for d in wait_for(qtbot, store.pending_drafts())}
    a, b, c = ((by_conversation[x.id], x) for x in conversations)
    model = ApprovalQueueModel()
    check_model(qtmodeltester, model)
    view = QListView()
    view.setModel(model)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(model.rowCount()))

    def selected() -> int:
        return int(view.currentIndex().data(CONVERSATION_ROLE).id)

    model.set_items([a, b])
    view.setCurrentIndex(model.index(1, 0))
    model.set_items([a, b, c])  # a new draft
    model.set_items([b, c])  # another one approved
    assert selected() == b[1].id
    assert resets == []
    assert [model.at(r)[1].id for r in range(model.rowCount())] == [b[1].id, c[1].id]
    model.set_items([c, b])
    assert resets == [2]


def test_knowledge_tables_split_items_by_type(
    qtbot: QtBot, qloop: object, tmp_path: Path, qtmodeltester: ModelTester
) -> None:
    """Each type's table lists only its items, with the offer's validity in words."""
    kb = wait_for(qtbot, KnowledgeBase.open(tmp_path / "kb"))
    try:
        wait_for(qtbot, kb.add_faq("A dërgoni në Prizren?", "Po, për 2 €.", ["Dostava?"]))
        today = date.today()
        wait_for(
            qtbot,
            kb.add_offer(
                "Çanta lëkure", "Ngjyrë kafe", price="45 €", valid_until=today + timedelta(days=10)
            ),
        )
        items = wait_for(qtbot, kb.list_items())
        hits = wait_for(qtbot, kb.search("Prizren"))
    finally:
        wait_for(qtbot, kb.close())
    faqs, offers = KnowledgeItemsModel("faq"), KnowledgeItemsModel("offer")
    for model in (faqs, offers):
        check_model(qtmodeltester, model)
        model.set_items(items)
    assert faqs.rowCount() == 1 and offers.rowCount() == 1
    assert faqs.index(0, 0).data() == "A dërgoni në Prizren?"
    assert faqs.index(0, 2).data() == "Dostava?"
    assert offers.index(0, 1).data() == "45 €"
    assert offers.index(0, 2).data().startswith("Until ")
    assert offers.index(0, 0).data(ITEM_ROLE).item_type == "offer"
    assert faqs.headerData(0, Qt.Orientation.Horizontal) == "Question"
    hits_model = HitsModel()
    check_model(qtmodeltester, hits_model)
    hits_model.set_hits(hits)
    assert hits_model.rowCount() >= 1
    assert "Prizren" in hits_model.index(0, 0).data()
