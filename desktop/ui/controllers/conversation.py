"""Fills a :class:`ConversationPane` for one conversation and carries out what it asks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop.core.forget import receipt_words
from desktop.core.kb.models import ItemInfo, SearchHit
from desktop.core.services import ConversationsService, KnowledgeService
from desktop.core.store import Conversation, ConversationStatus, Draft, Message
from desktop.core.store.models import CONVERSATION_STATUSES
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.saved_replies import SavedReplies
from desktop.ui.tasks import TaskKeeper
from desktop.ui.widgets.common import confirm
from desktop.ui.widgets.conversation_pane import ConversationPane
from desktop.ui.widgets.draft_panel import Citation
from desktop.ui.widgets.source_dialog import SourceDialog, item_kind

__all__ = ["ConversationController", "citation_titles", "item_of_chunk"]


def item_of_chunk(chunk_id: str) -> str:
    """The knowledge item a chunk belongs to (chunk ids are ``<item id>#<digest>``)."""
    return chunk_id.split("#", 1)[0]


async def citation_titles(
    knowledge: KnowledgeService, chunk_ids: tuple[str, ...]
) -> list[Citation]:
    """Chip titles for a draft's citations ("FAQ: Do you ship to Prizren?")."""
    found: list[Citation] = []
    seen: set[str] = set()
    for chunk_id in chunk_ids:
        item_id = item_of_chunk(chunk_id)
        if item_id in seen:
            continue
        seen.add(item_id)
        item = await knowledge.get_item(item_id)
        title = f"{item_kind(item.item_type)}: {item.title}" if item else "Removed knowledge"
        found.append((chunk_id, title))
    return found


def _status(value: str) -> ConversationStatus | None:
    for status in CONVERSATION_STATUSES:
        if status == value:
            return status
    return None


class ConversationController(QObject):
    """Loads the conversation, keeps it current from the change feed, runs its actions."""

    #: The owner acted on the conversation (approved, sent, resolved...): lists may move on.
    acted = Signal(int)
    #: A source window opened (tests look at it).
    source_shown = Signal(object)
    #: A confirmation or receipt box opened (tests look at it).
    dialog_opened = Signal(object)
    #: The customer was erased everywhere: the signed receipt.
    forgotten = Signal(object)

    def __init__(
        self,
        conversations: ConversationsService,
        knowledge: KnowledgeService,
        pane: ConversationPane,
        hub: ChangeHub,
        tasks: TaskKeeper,
        saved: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.conversations = conversations
        self.knowledge = knowledge
        self.pane = pane
        self.tasks = tasks
        self.saved = saved
        self.conversation_id: int | None = None
        self.draft: Draft | None = None
        self.active = True
        hub.changed.connect(self._on_changes)
        saved.changed.connect(self._saved_changed)
        pane.set_saved_replies(saved.items())
        pane.approve_requested.connect(self.approve)
        pane.discard_requested.connect(self.discard)
        pane.regenerate_requested.connect(self.regenerate)
        pane.send_requested.connect(self.send)
        pane.save_reply_requested.connect(saved.add)
        pane.retry_requested.connect(self.retry)
        pane.arrived_confirmed.connect(self.confirm_delivered)
        pane.citation_requested.connect(self.show_source)
        pane.link_activated.connect(lambda url: QDesktopServices.openUrl(QUrl(url)))
        pane.details.status_requested.connect(self.set_status)
        pane.details.labels_changed.connect(self.set_labels)
        pane.details.notes_changed.connect(self.set_notes)
        pane.details.hand_back_requested.connect(self.hand_back)
        pane.details.forget_requested.connect(self.confirm_forget)

    @property
    def _key(self) -> str:
        return f"conversation-{id(self)}"

    # ---- loading --------------------------------------------------------------------

    def show(self, conversation_id: int | None) -> None:
        """Open a conversation (None: show the empty state)."""
        if conversation_id is None:
            self.conversation_id = None
            self.tasks.cancel(self._key)
            self.pane.show_empty()
            return
        if conversation_id != self.conversation_id:
            self.pane.details.save_notes()
        self.conversation_id = conversation_id
        self.tasks.spawn(self._load(conversation_id), key=self._key)

    async def _load(self, conversation_id: int) -> None:
        conversation, messages, draft = await asyncio.gather(
            self.conversations.conversation(conversation_id),
            self.conversations.messages(conversation_id),
            self.conversations.pending_draft(conversation_id),
        )
        if conversation_id != self.conversation_id:
            return
        if conversation is None:
            self.pane.show_empty("This conversation is gone", "The customer's data was erased.")
            return
        self.pane.set_conversation(conversation)
        self.pane.set_messages(messages)
        await self._show_draft(draft)
        await self._mark_read(conversation)

    async def _show_draft(self, draft: Draft | None) -> None:
        shown = self.draft
        if (
            shown is not None
            and shown.conversation_id == self.conversation_id
            and (draft is None or draft.id != shown.id)
        ):
            # The draft on screen was taken back: say why, so it does not just vanish.
            gone = await self.conversations.draft(shown.id)
            if gone is not None and gone.withdrawn_reason:
                self.pane.show_info(f"The suggested reply was withdrawn. {gone.withdrawn_reason}")
        citations = await citation_titles(self.knowledge, draft.cited_chunk_ids) if draft else []
        self.draft = draft
        self.pane.set_draft(draft, citations)

    async def _mark_read(self, conversation: Conversation) -> None:
        if conversation.unread and self.active and self.pane.isVisible():
            await self.conversations.mark_read(conversation.id)

    def _on_changes(self, changes: ChangeSet) -> None:
        cid = self.conversation_id
        if cid is None:
            return
        if cid in changes.removed:
            self.show(None)
            self.pane.show_empty("This conversation is gone", "The customer's data was erased.")
            return
        if cid in changes.conversations or cid in changes.messages or cid in changes.drafts:
            self.tasks.spawn(
                self._refresh(cid, changes.messages.get(cid, set()), cid in changes.drafts),
                key=f"{self._key}-refresh",
            )

    async def _refresh(self, conversation_id: int, message_ids: set[int], drafts: bool) -> None:
        conversation = await self.conversations.conversation(conversation_id)
        found: list[Message] = []
        for message_id in sorted(message_ids):
            message = await self.conversations.message(message_id)
            if message is not None:
                found.append(message)
        draft = await self.conversations.pending_draft(conversation_id) if drafts else self.draft
        if conversation_id != self.conversation_id or conversation is None:
            return
        self.pane.set_conversation(conversation)
        if found:
            self.pane.upsert_messages(found)
        if drafts:
            await self._show_draft(draft)
        await self._mark_read(conversation)

    def _saved_changed(self) -> None:
        self.pane.set_saved_replies(self.saved.items())

    # ---- actions ------------------------------------------------------------------

    def _failed(self, words: str) -> None:
        self.pane.show_error(words)
        self.pane.draft_panel.set_busy(False)
        self.pane.composer.failed()

    def _done(self, _: object = None) -> None:
        if self.conversation_id is not None:
            self.acted.emit(self.conversation_id)

    def approve(self, draft_id: int, text: object) -> None:
        edited = text if isinstance(text, str) else None
        self.tasks.spawn(
            self.conversations.approve_draft(draft_id, edited), done=self._done, error=self._failed
        )

    def discard(self, draft_id: int) -> None:
        self.tasks.spawn(
            self.conversations.discard_draft(draft_id), done=self._done, error=self._failed
        )

    def regenerate(self) -> None:
        if self.conversation_id is None:
            return
        self.pane.draft_panel.set_busy(True)
        self.pane.show_info("Asking the assistant for a new draft…")
        self.tasks.spawn(
            self.conversations.regenerate(self.conversation_id),
            done=lambda _: self.pane.draft_panel.set_busy(False),
            error=self._failed,
        )

    def send(self, text: str) -> None:
        if self.conversation_id is None:
            return

        def sent(_: None) -> None:
            self.pane.composer.sent()
            self._done()

        self.tasks.spawn(
            self.conversations.send_manual(self.conversation_id, text),
            done=sent,
            error=self._failed,
        )

    def retry(self, message_id: int) -> None:
        self.tasks.spawn(self.conversations.retry_message(message_id), error=self._failed)

    def confirm_delivered(self, message_id: int) -> None:
        self.tasks.spawn(self.conversations.confirm_delivered(message_id), error=self._failed)

    def confirm_forget(self) -> QMessageBox | None:
        """Ask first: erasing cannot be undone."""
        conversation_id = self.conversation_id
        if conversation_id is None:
            return None
        box = confirm(
            self.pane.window(),
            "Forget this customer",
            "Erase this customer, their messages, drafts and notes on this computer, on the"
            " Clientora service and on your other computers? This cannot be undone. You get a"
            " signed receipt to send them.",
            "Forget",
            lambda: self.forget(conversation_id),
        )
        self.dialog_opened.emit(box)
        return box

    def forget(self, conversation_id: int) -> None:
        self.pane.details.forget.setEnabled(False)

        def done(receipt: dict[str, Any]) -> None:
            self.pane.details.forget.setEnabled(True)
            signed = json.dumps(receipt, indent=2, ensure_ascii=False)
            QApplication.clipboard().setText(signed)
            box = QMessageBox(
                QMessageBox.Icon.Information,
                "Customer forgotten",
                receipt_words(receipt)
                + "\n\nThe signed receipt is copied: paste it into your answer to the customer.",
                QMessageBox.StandardButton.Ok,
                self.pane.window(),
            )
            box.setDetailedText(signed)
            box.open()
            self.dialog_opened.emit(box)
            self.forgotten.emit(receipt)

        def failed(words: str) -> None:
            self.pane.details.forget.setEnabled(True)
            self._failed(words)

        self.tasks.spawn(
            self.conversations.forget_customer(conversation_id),
            done=done,
            error=failed,
        )

    def hand_back(self) -> None:
        if self.conversation_id is not None:
            self.tasks.spawn(self.conversations.hand_back(self.conversation_id), error=self._failed)

    def set_status(self, status: str, until: object) -> None:
        chosen = _status(status)
        if self.conversation_id is None or chosen is None:
            return
        snooze = until if isinstance(until, int) else None
        self.tasks.spawn(
            self.conversations.set_status(self.conversation_id, chosen, snoozed_until_ms=snooze),
            done=self._done,
            error=self._failed,
        )

    def set_labels(self, labels: list[str]) -> None:
        if self.conversation_id is not None:
            self.tasks.spawn(
                self.conversations.set_labels(self.conversation_id, labels), error=self._failed
            )

    def set_notes(self, notes: str) -> None:
        if self.conversation_id is not None:
            self.tasks.spawn(
                self.conversations.set_notes(self.conversation_id, notes), error=self._failed
            )

    def show_source(self, chunk_id: str) -> None:
        """Show the exact passage the draft cited, within its item."""

        async def load() -> tuple[ItemInfo | None, SearchHit | None]:
            hit = await self.knowledge.chunk(chunk_id)
            item_id = hit.item_id if hit is not None else item_of_chunk(chunk_id)
            return await self.knowledge.get_item(item_id), hit

        def opened(found: tuple[ItemInfo | None, SearchHit | None]) -> None:
            item, hit = found
            parent = self.pane.window()
            dialog = SourceDialog(item, hit, parent=parent if isinstance(parent, QWidget) else None)
            dialog.open()
            self.source_shown.emit(dialog)

        self.tasks.spawn(load(), done=opened, error=self._failed)
