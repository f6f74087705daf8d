"""Editing a document from the knowledge screen: rename it, or read another file into it;
the item stays the same one, a bad file changes nothing and says why."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.core.services import KnowledgeService
from desktop.ui.controllers.knowledge import KnowledgeController
from desktop.ui.screens.knowledge import KnowledgeScreen
from desktop.ui.widgets.document_dialog import DocumentDialog
from tests.qt_helpers import qloop, wait_for
from tests.test_ui_kb_review import knowledge

__all__ = ["knowledge", "qloop"]


def test_rename_and_replace_a_document(
    qtbot: QtBot,
    tmp_path: Path,
    knowledge: tuple[KnowledgeService, KnowledgeScreen, KnowledgeController],
) -> None:
    service, screen, controller = knowledge
    first, second = tmp_path / "orari.md", tmp_path / "orari-2027.md"
    first.write_text("# Orari\n\nHapur çdo ditë nga ora 9 deri në 18.", encoding="utf-8")
    second.write_text("# Orari\n\nHapur çdo ditë nga ora 8 deri në 20.", encoding="utf-8")
    item_id = wait_for(qtbot, service.kb.import_file(first)).items[0].item_id
    assert item_id is not None
    with qtbot.waitSignal(controller.changed):
        controller.reload()
    screen.show_type("document")
    assert screen.select_item(item_id)
    with qtbot.waitSignal(controller.dialog_opened) as opened:
        screen.edit_button.click()
    dialog = opened.args[0]
    assert isinstance(dialog, DocumentDialog)
    assert dialog.source.text() == str(first.resolve())

    dialog.name.setText("Orari i dyqanit")
    with qtbot.waitSignal(controller.document_saved):
        dialog.save_button.click()
    assert dialog.banner.text.startswith("Renamed.")
    assert screen.models["document"].index(0, 0).data() == "Orari i dyqanit"
    hit = wait_for(qtbot, service.kb.search("hapur ora"))[0]
    assert (hit.item_id, hit.title) == (item_id, "Orari i dyqanit")

    with qtbot.waitSignal(controller.document_saved):
        dialog.replace_with(str(second))
    assert dialog.banner.text == "Now read from orari-2027.md: updated: 1 chunks."
    assert dialog.source.text() == str(second.resolve())
    assert dialog.name.text() == "Orari i dyqanit"
    hit = wait_for(qtbot, service.kb.search("hapur ora"))[0]
    assert hit.item_id == item_id and "ora 8 deri në 20" in hit.text

    with qtbot.waitSignal(controller.document_saved):
        dialog.replace_with(str(tmp_path / "gone.md"))
    assert dialog.banner.text == "Kept the old file. gone.md: no such file."
    assert "ora 8 deri në 20" in wait_for(qtbot, service.kb.search("hapur ora"))[0].text

    dialog.name.setText("   ")
    dialog.save_button.click()
    assert dialog.banner.text == "Give the document a name."
    dialog.close()
