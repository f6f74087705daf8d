"""Connects the knowledge screen to the knowledge service: edits, imports, asking."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop.core.kb.models import (
    ImportReport,
    ImportResult,
    ItemInfo,
    PendingChange,
    Progress,
    SearchHit,
)
from desktop.core.services import AskResult, KnowledgeService
from desktop.ui.models.knowledge import Site, sites
from desktop.ui.screens.knowledge import KnowledgeScreen, readable_paths
from desktop.ui.tasks import TaskKeeper
from desktop.ui.widgets.common import BannerKind, confirm
from desktop.ui.widgets.document_dialog import DocumentDialog
from desktop.ui.widgets.kb_forms import FaqDialog, FaqValues, OfferDialog, OfferValues
from desktop.ui.widgets.review_dialog import ReviewDialog
from desktop.ui.widgets.source_dialog import SourceDialog

__all__ = ["KnowledgeController", "report_words"]

_PHASES = {
    "robots": "Reading robots.txt",
    "sitemap": "Reading the sitemap",
    "crawl": "Reading pages",
    "parse": "Reading",
    "embed": "Indexing",
    "store": "Saving",
    "resync": "Checking for changes",
    "done": "Done",
}


def _count(n: int, what: str) -> str:
    """ "1 file", "3 files" (``what`` is the plural)."""
    word = what.removesuffix("s") if n == 1 else what
    if not word.endswith("s") and n != 1:
        word += "s"
    return f"{n:,} {word}"


def report_words(report: ImportReport, what: str) -> tuple[BannerKind, str]:
    """(banner kind, sentence) summing up an import."""
    ok = [r for r in report.items if r.ok]
    failed = report.failed
    chunks = sum(r.chunks for r in ok)
    parts: list[str] = []
    if report.cancelled:
        parts.append(f"Import stopped. {_count(len(ok), what)} kept.")
    elif ok:
        parts.append(f"Imported {_count(len(ok), what)} ({_count(chunks, 'section')}).")
    waiting = sum(1 for r in ok if r.message.startswith("changed:"))
    if waiting:
        pages = "1 changed page waits" if waiting == 1 else f"{waiting} changed pages wait"
        parts.append(f"{pages} for your review.")
    if failed:
        first = failed[0]
        name = Path(first.source).name or first.source
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        parts.append(f"Could not import {name}{more}: {first.message}")
    if not parts:
        parts.append("Nothing to import.")
    kind: BannerKind = (
        "error" if failed and not ok else "warning" if failed or report.cancelled else "success"
    )
    return kind, " ".join(parts)


class KnowledgeController(QObject):
    """Keeps the item lists current and runs the screen's requests."""

    changed = Signal()
    #: An import finished with this report (tests wait on it).
    imported = Signal(object)
    answered = Signal(object)
    dialog_opened = Signal(object)
    #: The changes to review were reloaded after an accept or reject (tests wait on it).
    reviewed = Signal(object)  # list[PendingChange]
    #: A document was renamed or its file replaced (or that failed); the item as it is now.
    document_saved = Signal(object)
    _progress = Signal(object)

    def __init__(
        self,
        knowledge: KnowledgeService,
        screen: KnowledgeScreen,
        tasks: TaskKeeper,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.knowledge = knowledge
        self.screen = screen
        self.tasks = tasks
        self._cancel: asyncio.Event | None = None
        screen.add_faq_requested.connect(lambda: self.open_faq(None))
        screen.add_offer_requested.connect(lambda: self.open_offer(None))
        screen.edit_requested.connect(self.edit)
        screen.delete_requested.connect(self.confirm_delete)
        screen.choose_files_requested.connect(self.choose_files)
        screen.import_files_requested.connect(self.import_paths)
        screen.import_site_requested.connect(self.import_site)
        screen.resync_site_requested.connect(self.import_site)
        screen.remove_site_requested.connect(self.confirm_remove_site)
        screen.cancel_import_requested.connect(self.cancel_import)
        screen.review_requested.connect(self.open_review)
        screen.auto_accept_changed.connect(self.set_auto_accept)
        self._review: ReviewDialog | None = None
        self._changes: list[PendingChange] = []
        screen.ask_requested.connect(self.ask)
        screen.hit_activated.connect(self.show_hit)
        # A scheduled re-sync may leave pages for review: the bar shows them at once.
        knowledge.on_resynced(self.reload)
        # Progress may be reported from a worker thread: a queued signal brings it here.
        self._progress.connect(self._show_progress)

    def _parent(self) -> QWidget | None:
        window = self.screen.window()
        return window if isinstance(window, QWidget) else None

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="kb-load")

    async def _load(self) -> None:
        items = await self.knowledge.list_items()
        roots = [site.root for site in sites(items)]
        self.screen.auto_sites = await self.knowledge.auto_accept_sites(roots)
        self._changes = await self.knowledge.pending_changes()
        self.screen.set_items(items)
        self.screen.set_review_count(len(self._changes))
        if self._review is not None:
            self._review.set_changes(self._changes)
        self.changed.emit()

    # ---- website changes to review ----------------------------------------------------

    def open_review(self) -> ReviewDialog:
        dialog = ReviewDialog(self._changes, self._parent())
        dialog.accept_requested.connect(
            lambda item_id: self._decide(self.knowledge.accept_change(item_id))
        )
        dialog.reject_requested.connect(
            lambda item_id: self._decide(self.knowledge.reject_change(item_id))
        )
        dialog.accept_all_requested.connect(
            lambda: self._decide(self.knowledge.accept_all_changes())
        )
        dialog.finished.connect(lambda _: setattr(self, "_review", None))
        self._review = dialog
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _decide(self, decision: Coroutine[Any, Any, object]) -> None:
        async def run() -> None:
            await decision
            await self._load()
            self.reviewed.emit(self._changes)

        self.tasks.spawn(run(), error=self._error)  # no key: a decision is never cut short

    def set_auto_accept(self, root: str, on: bool) -> None:
        async def save() -> None:
            await self.knowledge.set_auto_accept(root, on)
            await self._load()

        self.tasks.spawn(save(), error=self._error)

    def _error(self, words: str) -> None:
        self.screen.banner.show_message("error", words)

    # ---- FAQ and offer forms --------------------------------------------------------

    def edit(self, item: ItemInfo) -> None:
        if item.item_type == "faq":
            self.open_faq(item)
        elif item.item_type == "offer":
            self.open_offer(item)
        elif item.item_type == "document":
            self.open_document(item)
        else:
            self.show_item(item)

    def open_faq(self, item: ItemInfo | None) -> FaqDialog:
        dialog = FaqDialog(item, self._parent())
        dialog.submitted.connect(lambda values: self._save_faq(dialog, values))
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _save_faq(self, dialog: FaqDialog, values: object) -> None:
        assert isinstance(values, FaqValues)
        save = self.knowledge.save_faq(
            values.item_id, values.question, values.answer, values.alternatives
        )
        self.tasks.spawn(
            save, done=lambda item_id: self._saved(dialog, item_id, "FAQ"), error=dialog.failed
        )

    def open_offer(self, item: ItemInfo | None) -> OfferDialog:
        dialog = OfferDialog(item, self._parent())
        dialog.submitted.connect(lambda values: self._save_offer(dialog, values))
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _save_offer(self, dialog: OfferDialog, values: object) -> None:
        assert isinstance(values, OfferValues)
        save = self.knowledge.save_offer(
            values.item_id,
            values.title,
            values.description,
            price=values.price,
            valid_from=values.valid_from,
            valid_until=values.valid_until,
        )
        self.tasks.spawn(
            save, done=lambda item_id: self._saved(dialog, item_id, "offer"), error=dialog.failed
        )

    def _saved(self, dialog: FaqDialog | OfferDialog, item_id: str, what: str) -> None:
        dialog.saved()
        self.screen.banner.show_message(
            "success", f"The {what} is saved; the assistant uses it from now on.", timeout_ms=5000
        )

        async def refresh() -> None:
            await self._load()
            self.screen.select_item(item_id)

        self.tasks.spawn(refresh(), key="kb-load")

    def open_document(self, item: ItemInfo) -> DocumentDialog:
        dialog = DocumentDialog(item, self._parent())
        dialog.rename_requested.connect(lambda item_id, name: self._rename(dialog, item_id, name))
        dialog.replace_requested.connect(
            lambda item_id, path: self._replace(dialog, item_id, Path(path))
        )
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def _rename(self, dialog: DocumentDialog, item_id: str, name: str) -> None:
        async def rename() -> None:
            item = await self.knowledge.rename_document(item_id, name)
            await self._load()
            dialog.done_with(item, "Renamed. The assistant's answers cite it by this name.", True)
            self.document_saved.emit(item)

        self.tasks.spawn(rename(), error=lambda words: dialog.done_with(None, words, ok=False))

    def _replace(self, dialog: DocumentDialog, item_id: str, path: Path) -> None:
        async def replace() -> None:
            result = await self.knowledge.replace_document(item_id, path)
            item = await self.knowledge.get_item(item_id)
            await self._load()
            if result.ok:
                words = f"Now read from {path.name}: {result.message}."
            else:
                words = f"Kept the old file. {path.name}: {result.message}."
            dialog.done_with(item, words, result.ok)
            self.document_saved.emit(item)

        self.tasks.spawn(replace(), error=lambda words: dialog.done_with(None, words, ok=False))

    # ---- delete ---------------------------------------------------------------------

    def confirm_delete(self, item: ItemInfo) -> QMessageBox:
        box = confirm(
            self._parent(),
            "Delete from knowledge",
            f"Delete “{item.title}”? The assistant will no longer use it.",
            "Delete",
            lambda: self.delete(item),
            QMessageBox.Icon.Question,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.dialog_opened.emit(box)
        return box

    def confirm_remove_site(self, site: object) -> QMessageBox:
        assert isinstance(site, Site)
        box = confirm(
            self._parent(),
            "Remove site",
            f"Remove {site.host} and its {len(site.pages)} pages from what the assistant"
            " knows? Import it again at any time.",
            "Remove",
            lambda: self.remove_site(site),
        )
        self.dialog_opened.emit(box)
        return box

    def remove_site(self, site: Site) -> None:
        self._delete(site.pages, f"Removed {site.host}.")

    def delete(self, item: ItemInfo) -> None:
        self._delete([item.item_id], f"Deleted “{item.title}”.")

    def _delete(self, item_ids: Sequence[str], done_words: str) -> None:
        async def remove() -> None:
            for item_id in item_ids:
                await self.knowledge.delete_item(item_id)
            await self._load()

        self.tasks.spawn(
            remove(),
            key="kb-delete",
            error=self._error,
            done=lambda _: self.screen.banner.show_message("info", done_words, timeout_ms=4000),
        )

    # ---- imports ----------------------------------------------------------------------

    def choose_files(self) -> QFileDialog:
        dialog = QFileDialog(self._parent(), "Import documents")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilters(
            ["Documents (*.pdf *.docx *.txt *.md *.markdown *.html *.htm)", "All files (*)"]
        )
        dialog.filesSelected.connect(self.import_paths)
        dialog.open()
        self.dialog_opened.emit(dialog)
        return dialog

    def import_paths(self, paths: list[str]) -> None:
        good, bad = readable_paths(paths)
        if not good:
            self.screen.banner.show_message(
                "warning",
                f"{', '.join(bad) or 'These files'}: only PDF, Word (.docx), text, Markdown"
                " and HTML files can be imported.",
            )
            return
        cancel = self._begin_import()
        self._run_import(self._import_files(good, bad, cancel), "Reading files…")

    async def _import_files(
        self, paths: list[Path], skipped: list[str], cancel: asyncio.Event
    ) -> ImportReport:
        total = ImportReport()
        for path in paths:
            if cancel.is_set():
                total.cancelled = True
                break
            report = await self.knowledge.import_file(
                path, progress=self._progress.emit, cancel=cancel
            )
            total.items.extend(report.items)
            total.cancelled = total.cancelled or report.cancelled
        if skipped:
            total.items.extend(
                ImportResult(source=name, ok=False, message="this kind of file cannot be read")
                for name in skipped
            )
        return total

    def import_site(self, url: str) -> None:
        cancel = self._begin_import()
        self._run_import(
            self.knowledge.import_site(url, progress=self._progress.emit, cancel=cancel),
            f"Reading {url}…",
            what="pages",
        )

    def _begin_import(self) -> asyncio.Event:
        self._cancel = asyncio.Event()
        return self._cancel

    def _run_import(
        self, coro: Coroutine[Any, Any, ImportReport], text: str, what: str = "files"
    ) -> None:
        self.screen.set_importing(True, text)

        def finished(report: ImportReport) -> None:
            self.screen.set_importing(False)
            kind, words = report_words(report, what)
            self.screen.banner.show_message(kind, words)
            self.imported.emit(report)
            self.reload()

        def failed(words: str) -> None:
            self.screen.set_importing(False)
            self._error(words)

        self.tasks.spawn(coro, key="kb-import", done=finished, error=failed)

    def cancel_import(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.screen.set_progress(0, None, "Stopping…")

    def _show_progress(self, progress: object) -> None:
        if isinstance(progress, Progress):
            phase = _PHASES.get(progress.phase, progress.phase.title())
            current = progress.current.rsplit("/", 1)[-1] or progress.current
            count = (
                f" ({progress.done}/{progress.total})"
                if progress.total
                else (f" ({progress.done})" if progress.done else "")
            )
            self.screen.set_progress(progress.done, progress.total, f"{phase} {current}{count}")

    # ---- ask and sources ---------------------------------------------------------------

    def ask(self, question: str) -> None:
        def answered(result: AskResult) -> None:
            self.screen.set_answer(result.draft, result.hits)
            self.answered.emit(result)

        def failed(words: str) -> None:
            self.screen.ask_failed()
            self._error(words)

        self.tasks.spawn(self.knowledge.ask(question), key="kb-ask", done=answered, error=failed)

    def show_hit(self, hit: SearchHit) -> None:
        async def load() -> ItemInfo | None:
            return await self.knowledge.get_item(hit.item_id)

        def opened(item: ItemInfo | None) -> None:
            dialog = SourceDialog(item, hit, self._parent())
            dialog.open()
            self.dialog_opened.emit(dialog)

        self.tasks.spawn(load(), done=opened, error=self._error)

    def show_item(self, item: ItemInfo) -> None:
        dialog = SourceDialog(item, None, self._parent())
        dialog.open()
        self.dialog_opened.emit(dialog)
