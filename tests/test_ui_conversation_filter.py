"""The inbox filter follows its source row by row: inserts, moves, updates and removals
under an active filter show exactly the rows a plain predicate would, and the selection
stays on its conversation."""

from __future__ import annotations

import random

import msgspec
from PySide6.QtCore import QItemSelectionModel, QPersistentModelIndex
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.core.store import Conversation
from desktop.ui.models.conversations import ConversationFilter, ConversationListModel
from desktop.ui.text import fold
from tests.qt_helpers import check_model
from tests.test_ui_widgets import NOW, _conversation

WORDS = ("arta", "marko", "çanta", "dërgesa", "patike", "zeza")


def _random(rng: random.Random, cid: int) -> Conversation:
    base = _conversation(cid)
    return msgspec.structs.replace(
        base,
        channel_id=rng.choice(("ch-1", "ch-2")),
        unread=rng.choice((0, 1)),
        last_activity_ms=NOW - rng.randrange(10_000),
        last_message_preview=" ".join(rng.sample(WORDS, 2)),
        customer=msgspec.structs.replace(base.customer, name=f"{rng.choice(WORDS)} {cid}"),
    )


def _expected(
    model: ConversationListModel, words: list[str], channel: str | None, extra: set[int]
) -> list[int]:
    shown = []
    for row in range(model.rowCount()):
        c = model.at(row)
        if channel is not None and c.channel_id != channel:
            continue
        if words and c.id not in extra and not all(w in model.folded(row) for w in words):
            continue
        shown.append(c.id)
    return shown


def _shown(proxy: ConversationFilter) -> list[int]:
    return [c.id for row in range(proxy.rowCount()) if (c := proxy.conversation(row))]


def test_filter_matches_a_plain_predicate_through_every_kind_of_change(
    qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    """Random upserts (new rows, rows moving, rows leaving and entering the filter),
    removals, searches that narrow and widen, full-text matches and channel filters: after
    each, the filter shows what the predicate accepts, in the source's order."""
    rng = random.Random(5)
    model = ConversationListModel()
    model.set_conversations([_random(rng, cid) for cid in range(1, 60)])
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    check_model(qtmodeltester, proxy)
    words: list[str] = []
    channel: str | None = None
    extra: set[int] = set()
    next_id = 60
    for step in range(400):
        action = rng.randrange(7)
        if action == 0:
            model.upsert([_random(rng, next_id)])
            next_id += 1
        elif action in (1, 2):
            ids = model.ids()
            model.upsert([_random(rng, rng.choice(ids)) for _ in range(3)])
        elif action == 3 and model.rowCount() > 20:
            model.remove([rng.choice(model.ids())])
        elif action == 4:
            text = rng.choice(("", "a", "ar", "art", "arta", "ç", "ca", "canta z", "marko 4"))
            proxy.set_search(text)
            words, extra = fold(text).split(), set()
        elif action == 5:
            found = rng.sample(model.ids(), 4)
            proxy.add_matches(found)
            extra |= set(found)
        else:
            channel = rng.choice((None, "ch-1", "ch-2"))
            proxy.set_filter(channel_id=channel)
        assert _shown(proxy) == _expected(model, words, channel, extra), step
        for row, conversation_id in enumerate(_shown(proxy)):
            assert proxy.row_of(conversation_id) == row


def test_selection_stays_on_its_conversation_while_the_filter_changes(qtbot: QtBot) -> None:
    """A persistent index (what a view's selection holds) follows its conversation when
    the search narrows, rows move under it, and becomes invalid once it is filtered out."""
    rng = random.Random(9)
    model = ConversationListModel()
    model.set_conversations([_random(rng, cid) for cid in range(1, 40)])
    proxy = ConversationFilter()
    proxy.setSourceModel(model)
    selection = QItemSelectionModel(proxy)
    chosen = proxy.conversation(10)
    assert chosen is not None
    selection.setCurrentIndex(proxy.index(10, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    held = QPersistentModelIndex(proxy.index(10, 0))
    word = fold(chosen.customer.name or "").split()[0]
    proxy.set_search(word)
    assert proxy.conversation(held.row()) == chosen
    assert selection.currentIndex().row() == held.row()
    model.upsert([msgspec.structs.replace(chosen, last_activity_ms=NOW + 1)])
    assert held.row() == 0
    assert proxy.conversation(held.row()) == model.get(chosen.id)
    proxy.set_search(word + " nothing-like-this")
    assert not held.isValid()
    assert proxy.rowCount() == 0
