"""Website changes to review on the knowledge screen: a real site that changes between
syncs, a real knowledge base; the owner accepts or keeps the old text page by page, or
lets a site's changes through without review."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox
from pytestqt.qtbot import QtBot

from desktop.core.kb import KnowledgeBase
from desktop.core.services import KnowledgeService
from desktop.core.services.knowledge import Drafters
from desktop.core.services.preferences import Preferences
from desktop.core.settings import AppSettings
from desktop.ui.controllers.knowledge import KnowledgeController, report_words
from desktop.ui.screens.knowledge import KnowledgeScreen
from desktop.ui.tasks import TaskKeeper
from desktop.ui.widgets.review_dialog import ReviewDialog
from tests.fakes.server import ServedApp, serve_app
from tests.qt_helpers import qloop, wait_for
from tests.test_kb_site import LIMITS, Site, page

__all__ = ["qloop"]


@pytest.fixture
def site() -> Iterator[tuple[Site, ServedApp]]:
    app = Site()
    # Only plain pages: the traps (slow, huge) are for the crawler's own tests.
    app.set("/", page('<main><p>Ballina.</p><a href="/returns">R</a> <a href="/a">A</a></main>'))
    with serve_app(app) as served:
        yield app, served


@pytest.fixture
def knowledge(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> Iterator[tuple[KnowledgeService, KnowledgeScreen, KnowledgeController]]:
    kb = wait_for(qtbot, KnowledgeBase.open(tmp_path / "kb"))
    preferences = Preferences(tmp_path, AppSettings())
    service = KnowledgeService(preferences, kb, Drafters(preferences))
    screen = KnowledgeScreen()
    tasks = TaskKeeper()
    controller = KnowledgeController(service, screen, tasks)
    try:
        yield service, screen, controller
    finally:
        wait_for(qtbot, tasks.close())
        wait_for(qtbot, service.close())
        screen.deleteLater()


def test_review_changes_page_by_page_and_switch_a_site_to_auto_accept(
    qtbot: QtBot,
    site: tuple[Site, ServedApp],
    knowledge: tuple[KnowledgeService, KnowledgeScreen, KnowledgeController],
) -> None:
    app, served = site
    service, screen, controller = knowledge
    kb = service.kb
    wait_for(qtbot, kb.import_site(served.url, limits=LIMITS))
    app.set("/returns", page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 30 ditëve.</p></main>"))
    app.set("/a", page("<main><h1>A</h1><p>Faqja A flet tani për këmbëzat.</p></main>"))
    report = wait_for(qtbot, kb.resync_sites(limits=LIMITS))
    assert report_words(report, "pages")[1].endswith("2 changed pages wait for your review.")
    with qtbot.waitSignal(controller.changed):
        controller.reload()
    assert screen.review_bar.isVisibleTo(screen)
    assert screen.review_text.text().startswith("2 pages of your website changed.")

    with qtbot.waitSignal(controller.dialog_opened) as opened:
        screen.review_button.click()
    dialog = opened.args[0]
    assert isinstance(dialog, ReviewDialog)
    assert dialog.pages.count() == 2
    for row in range(dialog.pages.count()):
        dialog.pages.setCurrentRow(row)
        current = dialog.current()
        if current is not None and current.source.endswith("/returns"):
            break
    assert "brenda 14 ditëve me faturë" in dialog.old_text.toPlainText()
    assert "brenda 30 ditëve" in dialog.new_text.toPlainText()
    # Not accepted yet: the assistant still finds the old text.
    assert wait_for(qtbot, kb.search("kthehet ditëve"))[0].text.endswith("14 ditëve me faturë.")

    with qtbot.waitSignal(controller.reviewed) as accepted:
        dialog.accept_button.click()
    assert [c.source for c in accepted.args[0]] == [served.url + "/a"]
    assert wait_for(qtbot, kb.search("kthehet ditëve"))[0].text.endswith("brenda 30 ditëve.")
    assert dialog.pages.count() == 1
    assert "këmbëzat" in dialog.new_text.toPlainText()
    assert screen.review_text.text().startswith("1 page of your website changed.")

    with qtbot.waitSignal(controller.reviewed) as kept:
        dialog.reject_button.click()
    assert kept.args[0] == []
    assert dialog.empty.isVisibleTo(dialog)
    assert not dialog.accept_button.isEnabled()
    assert not screen.review_bar.isVisibleTo(screen)
    assert wait_for(qtbot, kb.search("këmbëzat")) == []
    dialog.close()

    # The site's switch: changes go live after the next re-sync, with nothing to review.
    switch = next(iter(screen.site_rows.values())).findChild(QCheckBox)
    assert switch is not None and not switch.isChecked()
    with qtbot.waitSignal(controller.changed):
        switch.click()
    assert wait_for(qtbot, kb.auto_accepts(served.url + "/"))
    switch = next(iter(screen.site_rows.values())).findChild(QCheckBox)
    assert switch is not None and switch.isChecked()
    app.set("/returns", page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 60 ditëve.</p></main>"))
    report = wait_for(qtbot, kb.resync_sites(limits=LIMITS))
    assert "updated: 1 chunks" in {r.message for r in report.items}
    assert wait_for(qtbot, kb.search("kthehet ditëve"))[0].text.endswith("brenda 60 ditëve.")
    assert wait_for(qtbot, kb.pending_changes()) == []
