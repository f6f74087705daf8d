"""The knowledge base screen: items per type, imports (files and a website) and a test box."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.core.drafting import Draft
from desktop.core.kb.models import ItemInfo, ItemType, SearchHit
from desktop.ui.icons import icon
from desktop.ui.models.knowledge import (
    HIT_ROLE,
    ITEM_ROLE,
    HitsModel,
    KnowledgeItemsModel,
    Site,
    sites,
)
from desktop.ui.widgets.common import Banner, EmptyState, button, card, label, repolish

__all__ = ["DOCUMENT_SUFFIXES", "KnowledgeScreen"]

#: Files the knowledge base can read (the import refuses others with a message).
DOCUMENT_SUFFIXES = (".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm")

_TABS: tuple[tuple[ItemType, str, str, str, str], ...] = (
    (
        "faq",
        "FAQs",
        "faq",
        "No FAQs yet",
        "Add the questions customers ask most, with your answers.",
    ),
    (
        "offer",
        "Offers",
        "offer",
        "No offers yet",
        "Add products and promotions with prices and dates.",
    ),
    (
        "document",
        "Documents",
        "file",
        "No documents yet",
        "Drop price lists, catalogues or policies (PDF, Word, text) here.",
    ),
    (
        "web",
        "Web pages",
        "globe",
        "No web pages yet",
        "Import your shop's website: its pages become knowledge.",
    ),
)


class KnowledgeScreen(QWidget):
    """Shows the knowledge base and emits what the owner wants done with it."""

    add_faq_requested = Signal()
    add_offer_requested = Signal()
    choose_files_requested = Signal()
    edit_requested = Signal(object)  # ItemInfo
    delete_requested = Signal(object)  # ItemInfo
    import_files_requested = Signal(list)  # list[str]
    import_site_requested = Signal(str)
    #: "Re-sync now" on a site (its address) and "Remove site" (the Site).
    resync_site_requested = Signal(str)
    remove_site_requested = Signal(object)
    #: "Review changes" (re-synced pages waiting), and a site's auto-accept switch.
    review_requested = Signal()
    auto_accept_changed = Signal(str, bool)  # site root, on
    cancel_import_requested = Signal()
    ask_requested = Signal(str)
    hit_activated = Signal(object)  # SearchHit

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 18, 24, 18)
        outer.setSpacing(12)

        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(label("Knowledge", "title"))
        titles.addWidget(label("What your assistant knows. It answers only from this.", "muted"))
        head.addLayout(titles, 1)
        self.add_faq = button("Add FAQ", "plus", "primary")
        self.add_offer = button("Add offer", "offer")
        self.import_files = button("Import files…", "import")
        for widget in (self.add_faq, self.add_offer, self.import_files):
            head.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        outer.addLayout(head)
        self.banner = Banner()
        outer.addWidget(self.banner)
        # Shown while re-synced pages wait: the assistant still uses their old text.
        self.review_bar = QFrame()
        self.review_bar.setProperty("card", True)
        review_line = QHBoxLayout(self.review_bar)
        review_line.setContentsMargins(12, 6, 8, 6)
        self.review_text = label("", wrap=True)
        self.review_button = button("Review changes", "edit", "primary")
        self.review_button.clicked.connect(self.review_requested)
        review_line.addWidget(self.review_text, 1)
        review_line.addWidget(self.review_button)
        self.review_bar.hide()
        outer.addWidget(self.review_bar)
        self.auto_sites: set[str] = set()

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter, 1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 8, 0)
        left_layout.setSpacing(10)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.models: dict[ItemType, KnowledgeItemsModel] = {}
        self.tables: dict[ItemType, QTableView] = {}
        self.stacks: dict[ItemType, QStackedWidget] = {}
        for item_type, title, icon_name, empty_title, empty_text in _TABS:
            model = KnowledgeItemsModel(item_type, self)
            table = QTableView()
            table.setModel(model)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            table.setAlternatingRowColors(True)
            table.setShowGrid(False)
            table.setWordWrap(False)
            table.verticalHeader().hide()
            table.verticalHeader().setDefaultSectionSize(34)
            header = table.horizontalHeader()
            header.setHighlightSections(False)
            header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            # The two text columns share the room and elide; the short ones keep their
            # width: the table never scrolls sideways, even on a 1280-pixel screen.
            header.setStretchLastSection(False)
            table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            for column in range(model.columnCount()):
                stretch = column < 2 or (column == 2 and item_type == "faq")
                header.setSectionResizeMode(
                    column,
                    QHeaderView.ResizeMode.Stretch
                    if stretch
                    else QHeaderView.ResizeMode.Interactive,
                )
                if not stretch:
                    table.setColumnWidth(column, 120)
            table.setAccessibleName(title)
            table.doubleClicked.connect(self._activated)
            delete = QShortcut(QKeySequence.StandardKey.Delete, table)
            delete.setContext(Qt.ShortcutContext.WidgetShortcut)
            delete.activated.connect(self.delete_selected)
            stack = QStackedWidget()
            empty = EmptyState(icon_name, empty_title, empty_text)
            if item_type == "web":
                # Pages grouped by site above the pages: re-sync or remove a whole site.
                holder = QWidget()
                holder_layout = QVBoxLayout(holder)
                holder_layout.setContentsMargins(0, 6, 0, 0)
                holder_layout.setSpacing(6)
                self.sites_box = QVBoxLayout()
                self.sites_box.setSpacing(4)
                self.site_rows: dict[str, QWidget] = {}
                holder_layout.addLayout(self.sites_box)
                holder_layout.addWidget(table, 1)
                stack.addWidget(holder)
            else:
                stack.addWidget(table)
            stack.addWidget(empty)
            model.modelReset.connect(
                lambda m=model, s=stack, e=empty: s.setCurrentIndex(0 if m.rowCount() else 1)
            )
            stack.setCurrentWidget(empty)
            self.tabs.addTab(stack, icon(icon_name), title)
            self.models[item_type] = model
            self.tables[item_type] = table
            self.stacks[item_type] = stack
        left_layout.addWidget(self.tabs, 1)

        row = QHBoxLayout()
        self.edit_button = button("Edit", "edit")
        self.delete_button = button("Delete", "trash", "danger")
        row.addWidget(self.edit_button)
        row.addWidget(self.delete_button)
        row.addStretch(1)
        left_layout.addLayout(row)

        # Imports: a drop zone for files, and a website address.
        self.drop_zone = QFrame()
        self.drop_zone.setObjectName("DropZone")
        zone = QVBoxLayout(self.drop_zone)
        zone.setContentsMargins(16, 12, 16, 12)
        zone.setSpacing(8)
        drop_row = QHBoxLayout()
        picture = label("")
        picture.setPixmap(icon("import", "muted").pixmap(22, 22))
        drop_row.addWidget(picture)
        drop_row.addWidget(
            label("Drop PDF, Word, text or HTML files here to import them.", "muted"), 1
        )
        zone.addLayout(drop_row)
        site_row = QHBoxLayout()
        self.site_url = QLineEdit()
        self.site_url.setPlaceholderText("https://your-shop.com")
        self.site_url.setAccessibleName("Website address")
        self.import_site = button("Import website", "globe")
        site_row.addWidget(self.site_url, 1)
        site_row.addWidget(self.import_site)
        zone.addLayout(site_row)
        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress_label = label("", "hint")
        self.cancel = button("Cancel", "discard", "flat")
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel)
        zone.addLayout(progress_row)
        zone.addWidget(self.progress_label)
        left_layout.addWidget(self.drop_zone)
        self.set_importing(False)
        splitter.addWidget(left)

        # The test box: what would the assistant find and say?
        ask = card()
        ask.setMinimumWidth(320)
        ask_layout = QVBoxLayout(ask)
        ask_layout.setContentsMargins(16, 14, 16, 14)
        ask_layout.setSpacing(8)
        ask_layout.addWidget(label("Test a question", "heading"))
        ask_layout.addWidget(
            label("See what the assistant would find and answer.", "hint", wrap=True)
        )
        ask_row = QHBoxLayout()
        self.question = QLineEdit()
        self.question.setPlaceholderText("e.g. Sa kushton dërgesa?")
        self.question.setAccessibleName("Test question")
        self.ask_button = button("Ask", "ask", "primary")
        ask_row.addWidget(self.question, 1)
        ask_row.addWidget(self.ask_button)
        ask_layout.addLayout(ask_row)
        self.answer_title = label("", "section")
        ask_layout.addWidget(self.answer_title)
        self.answer = QPlainTextEdit()
        self.answer.setReadOnly(True)
        self.answer.setAccessibleName("Drafted answer")
        self.answer.setMaximumHeight(130)
        ask_layout.addWidget(self.answer)
        self.answer_meta = label("", "hint", wrap=True)
        ask_layout.addWidget(self.answer_meta)
        self.hits_title = label("", "section")
        ask_layout.addWidget(self.hits_title)
        self.hits = HitsModel(self)
        self.hits_view = QListView()
        self.hits_view.setModel(self.hits)
        self.hits_view.setWordWrap(True)
        self.hits_view.setSpacing(3)
        self.hits_view.setAccessibleName("What the assistant found")
        self.hits_view.doubleClicked.connect(self._hit)
        self.hits_view.clicked.connect(self._hit)
        ask_layout.addWidget(self.hits_view, 1)
        self._show_answer(False)
        splitter.addWidget(ask)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([760, 380])

        self.add_faq.clicked.connect(self.add_faq_requested)
        self.add_offer.clicked.connect(self.add_offer_requested)
        self.import_files.clicked.connect(self.choose_files_requested)
        self.edit_button.clicked.connect(self.edit_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.import_site.clicked.connect(self._import_site)
        self.site_url.returnPressed.connect(self._import_site)
        self.cancel.clicked.connect(self.cancel_import_requested)
        self.ask_button.clicked.connect(self._ask)
        self.question.returnPressed.connect(self._ask)

    # ---- items --------------------------------------------------------------------------

    def set_items(self, items: list[ItemInfo]) -> None:
        for model in self.models.values():
            model.set_items(items)
        self.set_sites(sites(items))
        for item_type, stack in self.stacks.items():
            model = self.models[item_type]
            stack.setCurrentIndex(0 if model.rowCount() else 1)
            index = self.tabs.indexOf(stack)
            name = self.tabs.tabText(index).split("  ")[0]
            self.tabs.setTabText(index, f"{name}  {model.rowCount()}" if model.rowCount() else name)

    def set_sites(self, found: Sequence[Site]) -> None:
        """One line per imported site: pages, last read, and its two actions."""
        while self.sites_box.count():
            item = self.sites_box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.site_rows = {}
        for site in found:
            row = QFrame()
            row.setProperty("card", True)
            line = QHBoxLayout(row)
            line.setContentsMargins(12, 6, 8, 6)
            when = f" · read {site.synced:%d %b %H:%M}" if site.synced else ""
            pages = f"{len(site.pages)} page{'s' if len(site.pages) != 1 else ''}"
            name = label(site.host, "heading")
            line.addWidget(name)
            line.addWidget(label(f"{pages}{when}", "muted"), 1)
            auto = QCheckBox("Apply changes without review")
            auto.setToolTip(
                "On: changed pages are used at once after a re-sync."
                " Off: they wait in “changes to review”."
            )
            auto.setChecked(site.root in self.auto_sites)
            auto.toggled.connect(lambda on, r=site.root: self.auto_accept_changed.emit(r, bool(on)))
            line.addWidget(auto)
            resync = button("Re-sync now", "regenerate", "flat", tip="Read the site again now")
            resync.clicked.connect(lambda _=False, r=site.root: self.resync_site_requested.emit(r))
            remove = button("Remove site", "trash", "danger", tip="Forget every page of it")
            remove.clicked.connect(lambda _=False, x=site: self.remove_site_requested.emit(x))
            line.addWidget(resync)
            line.addWidget(remove)
            self.sites_box.addWidget(row)
            self.site_rows[site.host] = row

    def set_review_count(self, count: int) -> None:
        """How many re-synced pages wait for review (the bar hides at 0)."""
        pages = "1 page" if count == 1 else f"{count} pages"
        self.review_text.setText(
            f"{pages} of your website changed. The assistant keeps using the old text"
            " until you review the changes."
        )
        self.review_bar.setVisible(count > 0)

    def current_type(self) -> ItemType:
        return _TABS[max(self.tabs.currentIndex(), 0)][0]

    def show_type(self, item_type: ItemType) -> None:
        self.tabs.setCurrentWidget(self.stacks[item_type])

    def selected_item(self) -> ItemInfo | None:
        table = self.tables[self.current_type()]
        index = table.currentIndex()
        value = index.data(ITEM_ROLE) if index.isValid() else None
        return value if isinstance(value, ItemInfo) else None

    def select_item(self, item_id: str) -> bool:
        for item_type, model in self.models.items():
            row = model.row_of(item_id)
            if row is not None:
                self.show_type(item_type)
                self.tables[item_type].selectRow(row)
                return True
        return False

    def _activated(self, index: QModelIndex) -> None:
        value = index.data(ITEM_ROLE)
        if isinstance(value, ItemInfo):
            self.edit_requested.emit(value)

    def edit_selected(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.edit_requested.emit(item)

    def delete_selected(self) -> None:
        item = self.selected_item()
        if item is not None:
            self.delete_requested.emit(item)

    # ---- imports -----------------------------------------------------------------------

    def _import_site(self) -> None:
        url = self.site_url.text().strip()
        if url and "://" not in url:
            url = "https://" + url
        if not url:
            self.site_url.setFocus()
            return
        self.import_site_requested.emit(url)

    def set_importing(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)
        self.progress_label.setVisible(busy or bool(text))
        self.progress_label.setText(text)
        self.import_site.setEnabled(not busy)
        self.import_files.setEnabled(not busy)
        if busy:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int | None, text: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        self.progress_label.setText(text)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.drop_zone.setProperty("active", True)
            repolish(self.drop_zone)

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_zone.setProperty("active", False)
        repolish(self.drop_zone)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_zone.setProperty("active", False)
        repolish(self.drop_zone)
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_files_requested.emit(paths)
        else:
            self.banner.show_message("warning", "Only files from this computer can be dropped.")

    # ---- ask ---------------------------------------------------------------------------

    def _ask(self) -> None:
        question = self.question.text().strip()
        if question:
            self.ask_button.setEnabled(False)
            self.ask_requested.emit(question)

    def _show_answer(self, visible: bool) -> None:
        for widget in (
            self.answer_title,
            self.answer,
            self.answer_meta,
            self.hits_title,
            self.hits_view,
        ):
            widget.setVisible(visible)

    def set_answer(self, draft: Draft, hits: list[SearchHit]) -> None:
        self.ask_button.setEnabled(True)
        self._show_answer(True)
        self.answer_title.setText(
            "The assistant would hand this to a person"
            if draft.handoff
            else "The assistant would answer"
        )
        self.answer.setPlainText(draft.reply)
        meta = [] if draft.handoff else [f"{draft.confidence:.0%} sure"]
        if draft.handoff and draft.handoff_reason:
            meta.append(draft.handoff_reason[:1].upper() + draft.handoff_reason[1:])
        if not draft.grounded:
            meta.append("not backed by your knowledge" if meta else "Not backed by your knowledge")
        self.answer_meta.setText(" · ".join(meta))
        self.hits.set_hits(hits)
        self.hits_title.setText(
            f"Found {len(hits)} section{'s' if len(hits) != 1 else ''}"
            if hits
            else "Nothing in your knowledge matches this question"
        )

    def ask_failed(self) -> None:
        self.ask_button.setEnabled(True)

    def _hit(self, index: QModelIndex) -> None:
        value = index.data(HIT_ROLE)
        if isinstance(value, SearchHit):
            self.hit_activated.emit(value)


def readable_paths(paths: list[str]) -> tuple[list[Path], list[str]]:
    """Split dropped paths into importable files/folders and names we cannot read."""
    good: list[Path] = []
    bad: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() or path.suffix.lower() in DOCUMENT_SUFFIXES:
            good.append(path)
        else:
            bad.append(path.name)
    return good, bad
