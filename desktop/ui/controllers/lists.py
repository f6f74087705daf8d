"""Controllers of the three conversation lists: inbox, approval queue and expiring soon."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QModelIndex, QObject, QPoint, QTimer, Signal

from desktop.core.samples import sample_questions
from desktop.core.services import ChannelsService, ConversationsService, KnowledgeService
from desktop.core.store import ConversationQuery
from desktop.core.store.models import CONVERSATION_STATUSES
from desktop.ui.controllers.conversation import ConversationController
from desktop.ui.hub import ChangeHub, ChangeSet
from desktop.ui.models.conversations import ConversationFilter, ConversationListModel
from desktop.ui.models.drafts import ApprovalQueueModel, QueueItem
from desktop.ui.saved_replies import SavedReplies
from desktop.ui.screens.lists import InboxScreen, ListScreen
from desktop.ui.tasks import TaskKeeper
from desktop.ui.widgets.test_chat import TestChatDialog

__all__ = ["ApprovalsController", "ExpiringController", "InboxController"]

#: Countdowns and "yesterday" labels are repainted this often without new data.
TICK_MS = 30_000
#: Full-text search waits this long after the last keystroke.
SEARCH_DELAY_MS = 180


class _ListController(QObject):
    """What the three lists share: a pane controller and "open this conversation"."""

    #: How many rows need attention (unread, waiting drafts...) for the sidebar badge.
    count_changed = Signal(int)
    #: The list finished a (re)load: tests and the window wait on this.
    loaded = Signal()

    def __init__(
        self,
        conversations: ConversationsService,
        knowledge: KnowledgeService,
        screen: ListScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        saved: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.conversations = conversations
        self.knowledge = knowledge
        self.screen = screen
        self.hub = hub
        self.tasks = tasks
        self.pane = ConversationController(
            conversations, knowledge, screen.pane, hub, tasks, saved, self
        )
        screen.selected.connect(self.pane.show)
        hub.changed.connect(self._on_changes)

    def set_active(self, active: bool) -> None:
        """The screen is shown (or not): only then are conversations marked read."""
        self.pane.active = active

    def _on_changes(self, changes: ChangeSet) -> None:
        raise NotImplementedError

    def open_conversation(self, conversation_id: int) -> bool:
        raise NotImplementedError


class InboxController(_ListController):
    """Every conversation; filters and search run in memory, full text on the store."""

    screen: InboxScreen

    def __init__(
        self,
        conversations: ConversationsService,
        knowledge: KnowledgeService,
        channels: ChannelsService,
        screen: InboxScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        saved: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(conversations, knowledge, screen, hub, tasks, saved, parent)
        self.channels = channels
        self.model = ConversationListModel("recent", self)
        self.proxy = ConversationFilter(self)
        self.proxy.setSourceModel(self.model)
        screen.set_model(self.proxy)
        self._apply_filters()
        screen.search_changed.connect(self._search)
        screen.filter_changed.connect(self._apply_filters)
        screen.test_chat_requested.connect(self.open_test_chat)
        self.test_chat: TestChatDialog | None = None
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._full_text)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.model.refresh_all)
        self._tick.start()
        # Counting unread rows walks the whole list: once per burst of changes, not per row.
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(150)
        self._count_timer.timeout.connect(self._count)
        self._count_timer.timeout.connect(self._empty_reason)
        for signal in (
            self.model.dataChanged,
            self.model.modelReset,
            self.model.rowsInserted,
            self.model.rowsRemoved,
        ):
            signal.connect(self._count_soon)

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="inbox-load")
        self.tasks.spawn(self._load_channels(), key="inbox-channels")
        self.screen.set_test_channel(self.channels.test_channel_id is not None)

    async def _load(self) -> None:
        conversations = await self.conversations.list_conversations(ConversationQuery())
        selected = self.pane.conversation_id
        self.model.set_conversations(conversations)
        self.screen.set_labels(self.model.labels())
        if selected is not None:
            row = self.proxy.row_of(selected)
            if row is not None:
                self.screen.select_row(row)
        self.loaded.emit()

    async def _load_channels(self) -> None:
        self.screen.set_channels(await self.channels.channels())

    def _count_soon(self, *_: object) -> None:
        if not self._count_timer.isActive():
            self._count_timer.start()

    def _empty_reason(self) -> None:
        self.screen.set_empty_reason(self.model.rowCount() > 0)

    def _count(self) -> None:
        self.count_changed.emit(
            sum(1 for i in range(self.model.rowCount()) if self.model.at(i).unread)
        )

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.removed:
            self.model.remove(changes.removed)
        if changes.conversations:
            ids = sorted(changes.conversations)
            self.tasks.spawn(self._upsert(ids))
        if changes.channels:
            self.tasks.spawn(self._load_channels(), key="inbox-channels")
            self.screen.set_test_channel(self.channels.test_channel_id is not None)
        if changes.messages:
            self._refresh_test_chat()

    async def _upsert(self, ids: list[int]) -> None:
        conversations = await self.conversations.conversations(ids)
        self.model.upsert(conversations)
        self.screen.set_labels(self.model.labels())
        current = self.screen.view.currentIndex()
        if not current.isValid() and self.pane.conversation_id is not None:
            row = self.proxy.row_of(self.pane.conversation_id)
            if row is not None:
                self.screen.select_row(row)

    def _apply_filters(self) -> None:
        channel, statuses, unread, pending = self.screen.filters()
        chosen = tuple(s for s in CONVERSATION_STATUSES if s in statuses)
        self.proxy.set_filter(
            channel_id=channel,
            statuses=chosen,
            unread_only=unread,
            pending_only=pending,
            needs_person=self.screen.needs_person,
            label=self.screen.label,
        )

    def _search(self, text: str) -> None:
        self.proxy.set_search(text)
        self._search_timer.start()

    def _full_text(self) -> None:
        text = self.screen.search.text().strip()
        if len(text) < 2:
            self.tasks.cancel("inbox-search")
            return
        self.tasks.spawn(self._search_messages(text), key="inbox-search")

    async def _search_messages(self, text: str) -> None:
        found = await self.conversations.conversation_ids(ConversationQuery(text=text, limit=500))
        if self.screen.search.text().strip() == text:
            self.proxy.add_matches(found)

    def open_conversation(self, conversation_id: int) -> bool:
        row = self.proxy.row_of(conversation_id)
        if row is None and self.model.row_of(conversation_id) is not None:
            self.screen.show_all()
            row = self.proxy.row_of(conversation_id)
        if row is None:
            return False
        self.screen.select_row(row)
        return True

    # ---- the test channel -------------------------------------------------------------

    def open_test_chat(self) -> TestChatDialog:
        if self.test_chat is None:
            self.test_chat = TestChatDialog(self.screen.window())
            self.test_chat.say_requested.connect(self.say_as_customer)
            self.test_chat.visitor_changed.connect(lambda _: self._refresh_test_chat())
        dialog = self.test_chat
        dialog.show()
        self._place_beside(dialog)
        dialog.raise_()
        dialog.text.setFocus()
        self.tasks.spawn(self._examples(dialog), key="test-chat-examples")
        self._refresh_test_chat()
        return dialog

    def _refresh_test_chat(self) -> None:
        dialog = self.test_chat
        if dialog is not None and dialog.isVisible():
            self.tasks.spawn(self._transcript(dialog), key="test-chat-transcript")

    async def _transcript(self, dialog: TestChatDialog) -> None:
        channel, visitor = self.channels.test_channel_id, dialog.visitor
        found = await self.conversations.list_conversations(ConversationQuery(channel_id=channel))
        ours = next((c for c in found if channel and c.customer.platform_id == visitor), None)
        if dialog.visitor == visitor:  # not switched meanwhile
            dialog.set_transcript(await self.conversations.messages(ours.id) if ours else [])

    def _place_beside(self, dialog: TestChatDialog) -> None:
        """Bottom left, over the list: the thread and its draft stay in view."""
        window = self.screen.window()
        dialog.adjustSize()
        corner = window.mapToGlobal(QPoint(12, max(0, window.height() - dialog.height() - 12)))
        dialog.move(corner)

    async def _examples(self, dialog: TestChatDialog) -> None:
        items = await self.knowledge.list_items()
        dialog.set_examples(sample_questions(items))

    def say_as_customer(self, text: str, name: str, visitor: str) -> None:
        dialog = self.test_chat
        self.tasks.spawn(
            self.channels.simulate_customer(text, customer=name, visitor=visitor),
            done=lambda _: dialog.sent() if dialog else None,
            error=lambda words: dialog.failed(words) if dialog else None,
        )


class ApprovalsController(_ListController):
    """Every draft waiting for the owner, oldest first."""

    def __init__(
        self,
        conversations: ConversationsService,
        knowledge: KnowledgeService,
        screen: ListScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        saved: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(conversations, knowledge, screen, hub, tasks, saved, parent)
        self.model = ApprovalQueueModel(self)
        #: The row whose draft was open when it left the queue: the draft now in its place
        #: opens next. Connected before the view, which moves to the row above first.
        self._left_at: int | None = None
        self.model.rowsAboutToBeRemoved.connect(self._before_removal)
        screen.set_model(self.model)
        for signal in (self.model.modelReset, self.model.rowsInserted, self.model.rowsRemoved):
            signal.connect(self._queue_changed)
        #: The queue changed out of view: which draft to open is chosen once it shows.
        self._choose_on_show = False
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(
            lambda: self.model.set_items([self.model.at(i) for i in range(self.model.rowCount())])
        )
        self._tick.start()

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="approvals-load")

    async def _load(self) -> None:
        drafts = await self.conversations.pending_drafts()
        waiting = sorted({d.conversation_id for d in drafts})
        conversations = {c.id: c for c in await self.conversations.conversations(waiting)}
        items: list[QueueItem] = [
            (d, conversations[d.conversation_id])
            for d in drafts
            if d.conversation_id in conversations
        ]
        self.model.set_items(items)
        self.count_changed.emit(len(items))
        self.loaded.emit()

    def set_active(self, active: bool) -> None:
        super().set_active(active)
        if active and self._choose_on_show:
            self._queue_changed()

    def _before_removal(self, _parent: QModelIndex, first: int, last: int) -> None:
        open_row = self.model.row_of_conversation(self.pane.conversation_id or -1)
        if open_row is not None and first <= open_row <= last:
            self._left_at = first

    def _queue_changed(self, *_: object) -> None:
        if not self.pane.active:
            # Opening a draft loads its thread and citations: not for a screen out of view
            # (during a burst each new draft would open one).
            self._choose_on_show = True
            return
        self._choose_on_show = False
        # Keep the open conversation (and its thread's scroll position) as it is; when its
        # draft left the queue, open the one now in its place, else the oldest.
        left_at, self._left_at = self._left_at, None
        wanted = self.pane.conversation_id
        row = self.model.row_of_conversation(wanted) if wanted is not None else None
        if left_at is not None or row is None:
            row = min(left_at or 0, self.model.rowCount() - 1)
        if row >= 0:
            if row != self.screen.current_row():
                self.screen.select_row(row)
        else:
            self.pane.show(None)
            self.screen.pane.show_empty(
                "All caught up", "Drafts that wait for your approval appear here."
            )

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.drafts or changes.removed or changes.conversations:
            self.reload()

    def open_conversation(self, conversation_id: int) -> bool:
        row = self.model.row_of_conversation(conversation_id)
        if row is None:
            return False
        self.screen.select_row(row)
        return True


class ExpiringController(_ListController):
    """Conversations whose messaging window closes next, with the customer waiting."""

    def __init__(
        self,
        conversations: ConversationsService,
        knowledge: KnowledgeService,
        screen: ListScreen,
        hub: ChangeHub,
        tasks: TaskKeeper,
        saved: SavedReplies,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(conversations, knowledge, screen, hub, tasks, saved, parent)
        self.model = ConversationListModel("window", self)
        screen.set_model(self.model)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.reload)
        self._tick.start()
        self._dirty = False

    def reload(self) -> None:
        self.tasks.spawn(self._load(), key="expiring-load")

    async def _load(self) -> None:
        await asyncio.sleep(0)
        conversations = await self.conversations.expiring_conversations()
        selected = self.pane.conversation_id
        self.model.replace(conversations)
        self.count_changed.emit(len(conversations))
        if selected is not None and (row := self.model.row_of(selected)) is not None:
            self.screen.select_row(row)
        self.loaded.emit()

    def _on_changes(self, changes: ChangeSet) -> None:
        if changes.conversations or changes.removed:
            self.reload()

    def open_conversation(self, conversation_id: int) -> bool:
        row = self.model.row_of(conversation_id)
        if row is None:
            return False
        self.screen.select_row(row)
        return True
