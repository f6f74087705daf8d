"""Conversations and replies: what the lists and the conversation pane read, and the
owner's actions on them; replies go out through the outbox."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from desktop.core.assistant import Assistant
from desktop.core.forget import forget_customer
from desktop.core.outbox import Outbox
from desktop.core.relay_client import RelayClient
from desktop.core.store import (
    Conversation,
    ConversationQuery,
    ConversationStatus,
    Draft,
    Message,
    Store,
)

from .errors import EngineError

__all__ = ["ConversationsService"]


class ConversationsService:
    """Reads conversations, messages and drafts; approves, sends, retries and files them."""

    def __init__(
        self, store: Store, client: RelayClient, outbox: Outbox, assistant: Assistant
    ) -> None:
        self.store = store
        self.client = client
        self.outbox = outbox
        self.assistant = assistant

    # ---- reading ------------------------------------------------------------------------

    async def list_conversations(
        self, query: ConversationQuery | None = None
    ) -> list[Conversation]:
        """The conversation list, filtered and ordered as ``query`` says."""
        return await self.store.list_conversations(query)

    async def conversation_ids(self, query: ConversationQuery) -> list[int]:
        """The ids of the conversations ``query`` lists (search matches, without the rows)."""
        return await self.store.conversation_ids(query)

    async def conversations(self, ids: Sequence[int]) -> list[Conversation]:
        """These conversations in this order (erased ones left out): for list updates."""
        return await self.store.conversations(ids)

    async def expiring_conversations(self) -> list[Conversation]:
        """Customers waiting for an answer whose window closes soonest first."""
        return await self.store.expiring_conversations()

    async def conversation(self, conversation_id: int) -> Conversation | None:
        return await self.store.conversation(conversation_id)

    async def messages(self, conversation_id: int) -> list[Message]:
        return await self.store.messages(conversation_id)

    async def message(self, message_id: int) -> Message | None:
        return await self.store.message(message_id)

    async def pending_draft(self, conversation_id: int) -> Draft | None:
        """The newest draft waiting for approval in this conversation."""
        pending = [d for d in await self.store.drafts(conversation_id) if d.state == "pending"]
        return pending[-1] if pending else None

    async def draft(self, draft_id: int) -> Draft | None:
        """A draft in any state (a withdrawn one says why in ``withdrawn_reason``)."""
        return await self.store.draft(draft_id)

    async def pending_drafts(self) -> list[Draft]:
        """The approval queue, oldest first."""
        return await self.store.pending_drafts()

    # ---- filing -------------------------------------------------------------------------

    async def mark_read(self, conversation_id: int) -> None:
        await self.store.mark_read(conversation_id)

    async def set_status(
        self, conversation_id: int, status: ConversationStatus, *, snoozed_until_ms: int | None
    ) -> None:
        await self.store.set_status(conversation_id, status, snoozed_until_ms=snoozed_until_ms)

    async def set_labels(self, conversation_id: int, labels: Iterable[str]) -> None:
        await self.store.set_labels(conversation_id, labels)

    async def set_notes(self, conversation_id: int, notes: str) -> None:
        await self.store.set_notes(conversation_id, notes)

    async def forget_customer(self, conversation_id: int) -> dict[str, Any]:
        """Erase the conversation's customer at the relay, here and on every device; the
        signed receipt."""
        return await forget_customer(self.client, self.store, conversation_id)

    # ---- replying -----------------------------------------------------------------------

    async def approve_draft(self, draft_id: int, text: str | None = None) -> None:
        draft = await self.store.draft(draft_id)
        if draft is None or draft.state != "pending":
            raise EngineError("This draft is no longer waiting for approval.")
        reply = (text if text is not None else draft.text).strip()
        if not reply:
            raise EngineError("The reply is empty.")
        if text is not None and text != draft.text:
            await self.store.edit_draft(draft_id, reply)
        await self.outbox.send(draft.conversation_id, reply, draft_id=draft_id)

    async def discard_draft(self, draft_id: int) -> None:
        await self.store.discard_draft(draft_id)

    async def regenerate(self, conversation_id: int) -> None:
        outcome = await self.assistant.draft(conversation_id, force=True)
        if outcome is None:
            raise EngineError("There is no customer message waiting for an answer here.")

    async def send_manual(self, conversation_id: int, text: str) -> None:
        if not text.strip():
            raise EngineError("Write something first.")
        await self.outbox.send(conversation_id, text.strip())

    async def retry_message(self, message_id: int) -> None:
        await self.outbox.retry(message_id)

    async def confirm_delivered(self, message_id: int) -> None:
        """The owner checked: a reply whose outcome the relay lost did arrive."""
        await self.store.confirm_delivered(message_id)

    async def hand_back(self, conversation_id: int) -> None:
        await self.store.resume_assistant(conversation_id)
        self.assistant.schedule(conversation_id, delay_s=0)
