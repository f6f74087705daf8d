"""Imported websites are grouped by site, with their page count, when they were read,
"Re-sync now" and "Remove site"."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from desktop.core.kb.models import ItemInfo
from desktop.ui.models.knowledge import Site, sites
from desktop.ui.screens.knowledge import KnowledgeScreen


def _page(n: int, url: str, day: int) -> ItemInfo:
    return ItemInfo(
        item_id=f"web-{n}",
        item_type="web",
        title=f"Page {n}",
        source=url,
        chunks=3,
        updated_at=datetime(2026, 12, day, 9, 30),
    )


PAGES = [
    _page(1, "https://www.butiku-arta.com/", 1),
    _page(2, "https://butiku-arta.com/dergesa", 3),
    _page(3, "https://www.butiku-arta.com/kthimet", 2),
    _page(4, "https://blog.example.org/post", 1),
    ItemInfo(item_id="faq-1", item_type="faq", title="A dërgoni?"),
]


def test_pages_are_grouped_by_site() -> None:
    """www. or not, one site; the biggest first; the latest read is the site's."""
    found = sites(PAGES)
    assert [(s.host, len(s.pages)) for s in found] == [
        ("butiku-arta.com", 3),
        ("blog.example.org", 1),
    ]
    assert found[0].synced == datetime(2026, 12, 3, 9, 30)
    assert found[0].root == "https://www.butiku-arta.com/"


def test_each_site_offers_resync_and_removal(qtbot: QtBot) -> None:
    """The web tab lists each site with its pages; its buttons ask for a re-sync of the
    site's address, or to remove every page of it."""
    screen = KnowledgeScreen()
    qtbot.addWidget(screen)
    screen.set_items(PAGES)
    row = screen.site_rows["butiku-arta.com"]
    buttons = {b.text(): b for b in row.findChildren(QPushButton)}
    assert set(buttons) == {"Re-sync now", "Remove site"}
    with qtbot.waitSignal(screen.resync_site_requested) as resync:
        buttons["Re-sync now"].click()
    assert resync.args == ["https://www.butiku-arta.com/"]
    with qtbot.waitSignal(screen.remove_site_requested) as remove:
        buttons["Remove site"].click()
    site = remove.args[0]
    assert isinstance(site, Site)
    assert sorted(site.pages) == ["web-1", "web-2", "web-3"]
    screen.set_items(PAGES[3:])
    assert list(screen.site_rows) == ["blog.example.org"]
