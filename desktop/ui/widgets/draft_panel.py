"""The assistant's draft with its grounds and actions, and the composer for writing by hand."""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.store import Draft
from desktop.ui.icons import icon
from desktop.ui.widgets.common import button, label, repolish, tool_button

__all__ = ["Citation", "Composer", "DraftPanel", "SavedReply"]

#: (chunk id, what to call it on its chip)
Citation = tuple[str, str]
#: (title, text)
SavedReply = tuple[str, str]
#: "/" then a few letters, at the start or after a space, right before the cursor.
_SLASH = re.compile(r"(?:^|\s)/(\w*)$")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _confidence_badge(confidence: float | None) -> tuple[str, str]:
    if confidence is None:
        return "Confidence unknown", "muted"
    kind = "success" if confidence >= 0.8 else "warning" if confidence >= 0.5 else "danger"
    return f"{confidence:.0%} sure", kind


class DraftPanel(QFrame):
    """Shows one pending draft; Approve (Ctrl+Enter), Edit, Regenerate, Discard."""

    approve_requested = Signal(int, object)  # draft id, edited text (None: unchanged)
    discard_requested = Signal(int)
    regenerate_requested = Signal()
    citation_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DraftCard")
        self.draft: Draft | None = None
        layout = self._layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(8)

        top = QHBoxLayout()
        top.setSpacing(8)
        picture = QLabel()
        picture.setPixmap(icon("bot", "accent").pixmap(18, 18))
        self.title = label("Suggested reply", "heading")
        self.confidence = QLabel()
        self.source = label("", "hint")
        top.addWidget(picture)
        top.addWidget(self.title)
        top.addWidget(self.confidence)
        top.addStretch(1)
        top.addWidget(self.source)
        layout.addLayout(top)

        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setProperty("role", "muted")
        layout.addWidget(self.reason)

        self.editor = QPlainTextEdit()
        self.editor.setReadOnly(True)
        self.editor.setAccessibleName("Draft reply")
        self.editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.editor.textChanged.connect(self._fit_editor)
        self.editor.textChanged.connect(self._approvable)
        self._fit_editor()
        layout.addWidget(self.editor)

        self.citations_row = QHBoxLayout()
        self.citations_row.setSpacing(6)
        self.citations_label = label("Based on:", "hint")
        self.citations_row.addWidget(self.citations_label)
        self.citations_row.addStretch(1)
        layout.addLayout(self.citations_row)
        self.chips: list[QToolButton] = []

        actions = QHBoxLayout()
        actions.setSpacing(8)
        self.approve_button = button(
            "Approve and send", "send", "primary", tip="Send this reply (Ctrl+Enter)"
        )
        self.edit_button = button("Edit", "edit", tip="Change the text before sending")
        self.edit_button.setCheckable(True)
        self.regenerate_button = button(
            "Regenerate", "regenerate", "flat", tip="Ask the assistant for a new draft"
        )
        self.discard_button = button(
            "Discard", "discard", "flat", tip="Throw this draft away and answer yourself"
        )
        actions.addWidget(self.approve_button)
        actions.addWidget(self.edit_button)
        actions.addStretch(1)
        actions.addWidget(self.regenerate_button)
        actions.addWidget(self.discard_button)
        layout.addLayout(actions)
        self._actions = actions
        self._labels = {
            self.approve_button: "Approve and send",
            self.edit_button: "Edit",
            self.regenerate_button: "Regenerate",
            self.discard_button: "Discard",
        }
        for widget, words in self._labels.items():
            widget.setAccessibleName(words)
        # The parent may make the panel narrower than every word needs: the actions then
        # fold into icons (see _fit_actions) instead of holding the window wide.
        self.setMinimumWidth(340)
        #: Width the actions need with every word shown (measured while they were shown).
        self._full_width = 0
        self._approve_width = 0
        self._busy = False
        self.compact = False

        self.approve_button.clicked.connect(self.approve)
        self.edit_button.toggled.connect(self._edit)
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        self.discard_button.clicked.connect(self._discard)
        self.hide()

    def set_draft(self, draft: Draft | None, citations: Sequence[Citation] = ()) -> None:
        """Show ``draft`` (or hide the panel); an edit in progress of the same draft stays."""
        same = draft is not None and self.draft is not None and draft.id == self.draft.id
        self.draft = draft
        if draft is None:
            self.hide()
            return
        if not (same and self.edit_button.isChecked()):
            self.editor.setPlainText(draft.text)
            # Nothing to approve as it is (a hand-off whose notice already went out): the
            # box is for the owner's own answer.
            self.edit_button.setChecked(not draft.text.strip())
        text, kind = _confidence_badge(draft.confidence)
        if draft.handoff:
            text, kind = "Hand-off", "warning"
        self.confidence.setText(text)
        self.confidence.setProperty("badge", kind)
        repolish(self.confidence)
        self.source.setText(
            "From your knowledge base" if draft.drafter == "extractive" else (draft.model or "AI")
        )
        self.confidence.setToolTip(self.source.text())
        self.setProperty("handoff", draft.handoff)
        repolish(self)
        if draft.handoff:
            self.title.setText("A person should answer")
            told = bool(draft.withdrawn_reason) and not draft.text.strip()
            self.reason.setText(
                _sentence(draft.handoff_reason or "the assistant could not answer this")
                + (
                    " The customer was told someone will answer: write the answer below."
                    if told
                    else " Edit the reply below, or write your own."
                )
            )
            self.reason.show()
        else:
            self.title.setText("Suggested reply")
            notes = []
            hold = getattr(draft, "hold_reason", None)
            if isinstance(hold, str) and hold:
                notes.append(_sentence(hold))
            if not draft.grounded:
                notes.append("Not backed by your knowledge base: check it before sending.")
            self.reason.setText(" ".join(notes))
            self.reason.setVisible(bool(notes))
        self._set_citations(citations)
        self.set_busy(False)
        self.show()

    def _set_citations(self, citations: Sequence[Citation]) -> None:
        for chip in self.chips:
            self.citations_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for position, (chunk_id, title) in enumerate(citations):
            chip = QToolButton()
            chip.setProperty("kind", "chip")
            chip.setText(title if len(title) <= 40 else title[:38] + "…")
            chip.setToolTip(f"See the source: {title}")
            chip.setIcon(icon("file", "accent"))
            chip.setIconSize(QSize(13, 13))
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _=False, c=chunk_id: self.citation_requested.emit(c))
            self.citations_row.insertWidget(1 + position, chip)
            self.chips.append(chip)
        self.citations_label.setVisible(bool(citations))

    def _fit_editor(self) -> None:
        # As tall as the text (2 to 7 lines): short drafts leave room for the thread.
        lines = max(2, min(7, self.editor.document().size().toSize().height()))
        chrome = 2 * (self.editor.frameWidth() + round(self.editor.document().documentMargin()))
        height = lines * self.editor.fontMetrics().lineSpacing() + chrome + 12
        self.editor.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_editor()
        self._fit_actions()

    def _fit_actions(self) -> None:
        """Too narrow for every word: the side actions become icons (their tooltips stay),
        and on the narrowest panel the main one says just "Approve"."""
        margins = self._layout.contentsMargins()
        room = self.width() - margins.left() - margins.right()
        gaps = 3 * (self._actions.spacing() + 8)
        if not self.compact:
            self._full_width = sum(w.sizeHint().width() for w in self._labels) + gaps
            self._approve_width = self.approve_button.sizeHint().width()
        compact = room < self._full_width
        short = room < self._approve_width + 3 * 52 + gaps
        self.compact = compact
        self.source.setVisible(not compact)
        for widget, words in self._labels.items():
            shown = ("Approve" if short else words) if widget is self.approve_button else words
            shown = "" if compact and widget is not self.approve_button else shown
            if widget.text() != shown:
                widget.setText(shown)

    def _edit(self, editing: bool) -> None:
        self.editor.setReadOnly(not editing)
        if editing:
            self.editor.setFocus()
            cursor = self.editor.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            self.editor.setTextCursor(cursor)

    @property
    def edited_text(self) -> str | None:
        """The text as edited, or None when it is the draft's own."""
        if self.draft is None:
            return None
        text = self.editor.toPlainText()
        return None if text == self.draft.text else text

    def approve(self) -> None:
        if self.draft is None or not self.isVisible() or not self.approve_button.isEnabled():
            return
        self.set_busy(True)
        self.approve_requested.emit(self.draft.id, self.edited_text)

    def _discard(self) -> None:
        if self.draft is not None:
            self.set_busy(True)
            self.discard_requested.emit(self.draft.id)

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        for widget in (self.discard_button, self.regenerate_button):
            widget.setEnabled(not busy)
        self._approvable()

    def _approvable(self) -> None:
        """Approve sends words: never an empty box, never while a request is on its way."""
        self.approve_button.setEnabled(
            not getattr(self, "_busy", False) and bool(self.editor.toPlainText().strip())
        )


class Composer(QFrame):
    """Write a reply by hand; saved replies are one click away."""

    send_requested = Signal(str)
    save_reply_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 8, 14, 10)
        layout.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Write a reply yourself…  (Ctrl+Enter sends)")
        self.editor.setAccessibleName("Your reply")
        self.editor.setFixedHeight(64)
        self.saved = tool_button("note", "Saved replies", kind="default")
        self.saved.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.saved_menu = QMenu(self)
        self.saved.setMenu(self.saved_menu)
        self.send_button = button("Send", "send", "primary", tip="Send your reply (Ctrl+Enter)")
        side = QVBoxLayout()
        side.setSpacing(6)
        side.addWidget(self.send_button)
        side.addWidget(self.saved, 0, Qt.AlignmentFlag.AlignRight)
        row.addWidget(self.editor, 1)
        row.addLayout(side)
        layout.addLayout(row)
        self.hint = label(
            "Answering yourself pauses the assistant in this conversation.", "hint", wrap=True
        )
        layout.addWidget(self.hint)
        self.send_button.clicked.connect(self.send)
        self._replies: list[SavedReply] = []
        # Typing "/" and a few letters offers the saved replies whose title matches.
        self.completer = QCompleter(self)
        self.completer.setModel(QStringListModel(self.completer))
        self.completer.setWidget(self.editor)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.activated.connect(self._complete)
        self.editor.textChanged.connect(self._offer_saved)
        self.editor.installEventFilter(self)
        popup = self.completer.popup()
        if popup is not None:
            popup.installEventFilter(self)
        self.editor.setPlaceholderText(
            "Write a reply yourself…  (Ctrl+Enter sends, / inserts a saved reply)"
        )
        self.set_saved_replies([])

    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    def send(self) -> None:
        text = self.editor.toPlainText().strip()
        if text and self.send_button.isEnabled():
            self.send_button.setEnabled(False)
            self.send_requested.emit(text)

    def sent(self) -> None:
        """The reply was handed to the outbox: clear the box for the next one."""
        self.editor.clear()
        self.send_button.setEnabled(True)

    def failed(self) -> None:
        self.send_button.setEnabled(True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The completer hands keys on to the editor: Enter or Tab with the list open
        # picks the saved reply instead of starting a new line.
        popup = self.completer.popup()
        if (
            watched in (self.editor, popup)
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
            and popup is not None
            and popup.isVisible()
        ):
            index = popup.currentIndex()
            title = index.data() if index.isValid() else self.completer.currentCompletion()
            self._complete(str(title))
            return True
        return super().eventFilter(watched, event)

    def _slash(self) -> re.Match[str] | None:
        cursor = self.editor.textCursor()
        before = self.editor.toPlainText()[: cursor.position()]
        return _SLASH.search(before)

    def _offer_saved(self) -> None:
        found = self._slash() if self._replies else None
        popup = self.completer.popup()
        if popup is None:
            return
        if found is None:
            popup.hide()
            return
        self.completer.setCompletionPrefix(found.group(1))
        if self.completer.completionCount() == 0:
            popup.hide()
            return
        rect = self.editor.cursorRect()
        rect.setWidth(max(260, popup.sizeHintForColumn(0) + 24))
        self.completer.complete(rect)

    def _complete(self, title: str) -> None:
        text = next((t for name, t in self._replies if name == title), None)
        found = self._slash()
        if text is None or found is None:
            return
        cursor = self.editor.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.Left,
            QTextCursor.MoveMode.KeepAnchor,
            len(found.group(0).lstrip()),
        )
        cursor.insertText(text)
        self.editor.setTextCursor(cursor)
        popup = self.completer.popup()
        if popup is not None:
            popup.hide()

    def set_saved_replies(self, replies: Sequence[SavedReply]) -> None:
        self._replies = list(replies)
        model = self.completer.model()
        if isinstance(model, QStringListModel):
            model.setStringList([title for title, _ in self._replies])
        menu = self.saved_menu
        menu.clear()
        for title, text in self._replies:
            action = menu.addAction(title)
            action.setToolTip(text)
            action.triggered.connect(lambda _=False, t=text: self.insert(t))
        if not self._replies:
            empty = menu.addAction("No saved replies yet")
            empty.setEnabled(False)
        menu.addSeparator()
        save = menu.addAction("Save what I wrote as a saved reply")
        save.triggered.connect(self._save_current)

    def insert(self, text: str) -> None:
        self.editor.insertPlainText(text)
        self.editor.setFocus()

    def _save_current(self) -> None:
        text = self.editor.toPlainText().strip()
        if text:
            self.save_reply_requested.emit(text)
