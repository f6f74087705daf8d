"""The assistant at work: waits for a burst to settle, drafts, and sends or queues.

For each inbound message it waits ``settle_s`` for the customer to finish (a newer
message restarts the wait and cancels a draft in progress: latest wins), retrieves
from the knowledge base, drafts, stores the draft, and asks the autopilot policy
whether it may go out on its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import msgspec

from common.channels import window_state
from desktop.core.autopilot import (
    Decision,
    Facts,
    UsageLimit,
    agreement,
    ai_budget_resets,
    decide,
    sending_paused,
)
from desktop.core.drafting import Draft, Drafter, DraftRequest, ExtractiveDrafter, Turn
from desktop.core.drafting.handoff import request_tag
from desktop.core.drafting.llm import QUOTA_REASON
from desktop.core.drafting.messages import MessageKind
from desktop.core.kb import KnowledgeBase
from desktop.core.outbox import Outbox
from desktop.core.settings import AppSettings
from desktop.core.store import (
    Change,
    Conversation,
    MessageAdded,
    NewDraft,
    Store,
)

__all__ = ["Assistant", "DraftOutcome"]

log = logging.getLogger(__name__)

#: Turns of history given to the drafter.
HISTORY = 20
#: Drafts searched and asked of the model at once. A burst of a hundred customers would
#: otherwise run a hundred searches and requests side by side on the window's thread:
#: each step waits on all the others and the HTTP pool re-scans every queued request
#: (measured 80-320 ms of the window's time per burst); the model answers in seconds
#: anyway, so a few at a time finish the burst about as soon.
DRAFTS_AT_ONCE = 4
#: The hand-off or away message goes out at most this often per conversation.
COURTESY_EVERY_MS = 12 * 3600 * 1000
BUDGET_HOLD = "The AI budget is used up: the answer comes from the knowledge base."
#: With the AI account's own "no quota" (no period known), the model is tried again after this.
BUDGET_RETRY_MS = 3600 * 1000


@dataclass(frozen=True, slots=True)
class DraftOutcome:
    draft_id: int
    decision: Decision


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Assistant:
    """Drafts for every conversation that needs an answer; sends what policy allows."""

    def __init__(
        self,
        store: Store,
        kb: KnowledgeBase,
        outbox: Outbox,
        *,
        settings: Callable[[], AppSettings],
        drafter: Callable[[], Drafter],
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.store = store
        self.kb = kb
        self.outbox = outbox
        self._settings = settings
        self._drafter = drafter
        self._clock = clock
        self._extractive = ExtractiveDrafter()
        self._tasks: dict[int, asyncio.Task[DraftOutcome | None]] = {}
        self._unanswered: dict[int, int] = {}
        self._budget_until_ms = 0
        self._budget_from_plan = False
        self._unsubscribe: Callable[[], None] | None = None
        # conversation -> its latest silent shadow draft, scored when the owner replies
        self._shadow: dict[int, tuple[int, str | None]] = {}
        self._scoring: set[asyncio.Task[None]] = set()
        # conversation -> when the hand-off or away message last went out automatically
        self._courtesy_sent: dict[int, int] = {}
        self._drafting = asyncio.Semaphore(DRAFTS_AT_ONCE)

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.store.changes.subscribe(self._on_changes)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def idle(self) -> None:
        """Wait until no draft is being prepared (tests and the headless server use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, MessageAdded):
                if change.inbound:
                    self.schedule(change.conversation_id)
                else:
                    self._watch_reply(change.conversation_id, change.message_id)

    def schedule(
        self, conversation_id: int, delay_s: float | None = None
    ) -> asyncio.Task[DraftOutcome | None]:
        """(Re)start drafting for a conversation after the settle time; latest wins."""
        previous = self._tasks.pop(conversation_id, None)
        if previous is not None:
            previous.cancel()
        delay = self._settings().settle_s if delay_s is None else delay_s
        task = asyncio.get_running_loop().create_task(
            self._after(conversation_id, delay), name=f"draft-{conversation_id}"
        )
        self._tasks[conversation_id] = task
        task.add_done_callback(lambda t: self._forget(conversation_id, t))
        return task

    def _forget(self, conversation_id: int, task: asyncio.Task[DraftOutcome | None]) -> None:
        if self._tasks.get(conversation_id) is task:
            del self._tasks[conversation_id]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("drafting failed", exc_info=exc, extra={"conversation": conversation_id})

    async def _after(self, conversation_id: int, delay_s: float) -> DraftOutcome | None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        return await self.draft(conversation_id)

    async def draft(self, conversation_id: int, *, force: bool = False) -> DraftOutcome | None:
        """Draft an answer now. ``force`` drafts even when the owner took over (Regenerate)."""
        settings = self._settings()
        conversation, messages = await asyncio.gather(
            self.store.conversation(conversation_id),
            self.store.messages(conversation_id, limit=HISTORY),
        )
        if conversation is None:
            return None
        texts = [m for m in messages if m.text and not m.deleted and m.kind != "note"]
        if not texts or texts[-1].direction != "in":
            return None  # already answered, or nothing to answer
        policy = settings.policy(conversation.channel_id)
        if conversation.assistant_paused and not force and policy.mode != "shadow":
            return None
        answering = texts[-1]
        turns = [
            Turn(
                role="customer" if m.direction == "in" else "business",
                text=m.text or "",
                timestamp_ms=m.timestamp_ms,
            )
            for m in texts
        ]
        question = " ".join(t.text for t in _trailing_customer_turns(turns))
        async with self._drafting:
            # The plan's limits are read while the knowledge base is searched (one wait).
            hits, limits = await asyncio.gather(self.kb.search(question, k=8), self._limits())
            request = DraftRequest(
                profile=settings.profile, platform=conversation.platform, turns=turns, hits=hits
            )
            draft, budget_out = await self._draft(request, limits)
        draft = self._count_unanswered(conversation_id, draft, settings)
        # A newer message may have arrived while the model was thinking: that one wins.
        latest = await self.store.messages(conversation_id, limit=1)
        if latest and latest[-1].id != answering.id and not force:
            return None
        tag = request_tag(request)
        text = draft.reply if draft.reply.strip() else settings.profile.message("handoff", tag)
        decision, facts = self._decide(conversation, draft, budget_out, settings, limits)
        topic = next((h.title for h in hits if h.chunk_id in draft.cited_chunk_ids), None)
        stored = await self.store.add_draft(
            NewDraft(
                conversation_id=conversation_id,
                text=text,
                drafter=draft.drafter,
                for_message_id=answering.id,
                language=draft.language,
                cited_chunk_ids=draft.cited_chunk_ids,
                confidence=draft.confidence,
                grounded=draft.grounded,
                handoff=draft.handoff,
                handoff_reason=draft.handoff_reason,
                hold_reason=decision.reason if decision.action != "send" else None,
                shadow=policy.mode == "shadow",
                model=draft.usage.model if draft.usage else None,
                error=draft.error,
                prompt_tokens=draft.usage.prompt_tokens if draft.usage else 0,
                completion_tokens=draft.usage.completion_tokens if draft.usage else 0,
                cost_usd=draft.usage.cost_usd if draft.usage else 0.0,
            )
        )
        if decision.action == "send":
            await self.outbox.send(conversation_id, text, draft_id=stored.id, automatic=True)
        elif (
            policy.mode == "auto"
            and decision.action == "wait"
            and facts.window_open
            and facts.within_limits
            and not facts.owner_took_over
        ):
            kind = self._courtesy_kind(draft, facts, budget_out)
            if kind is not None:
                await self._courtesy(conversation_id, answering.id, settings, kind, tag)
        elif policy.mode == "shadow":
            self._shadow[conversation_id] = (stored.id, topic)
        log.info(
            "draft ready",
            extra={
                "conversation": conversation_id,
                "action": decision.action,
                "drafter": draft.drafter,
            },
        )
        return DraftOutcome(stored.id, decision)

    async def _limits(self) -> list[UsageLimit]:
        """The plan's limits as the relay last reported them (its usage warnings)."""
        return [
            UsageLimit(metric=n.metric, used=n.used, limit=n.limit, resets_on=n.resets_on)
            for n in await self.store.usage_notices()
        ]

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock() / 1000, UTC).date()

    @property
    def budget_exhausted(self) -> bool:
        """Whether drafts come from the knowledge base alone until the AI budget is back."""
        return self._clock() < self._budget_until_ms

    def _budget_out(self, resets: date | None) -> None:
        """Use the no-key drafter until the plan's period resets (the relay's gateway), or
        for an hour when the AI account itself said so (its period is not known here)."""
        if resets is not None:
            until = int(datetime.combine(resets, datetime.min.time(), UTC).timestamp() * 1000)
        else:
            until = self._clock() + BUDGET_RETRY_MS
        self._budget_until_ms = max(self._budget_until_ms, until)
        self._budget_from_plan = resets is not None

    async def _draft(self, request: DraftRequest, limits: list[UsageLimit]) -> tuple[Draft, bool]:
        """The configured drafter's answer, or the no-key drafter's while the AI budget is
        used up (True then)."""
        drafter = self._drafter()
        if isinstance(drafter, ExtractiveDrafter):
            return await drafter.draft(request), False
        resets = ai_budget_resets(limits, self._today())
        if resets is not None:
            self._budget_out(resets)
        if self.budget_exhausted:
            return await self._extractive.draft(request), True
        draft = await drafter.draft(request)
        if draft.handoff and draft.handoff_reason and draft.handoff_reason.startswith(QUOTA_REASON):
            self._budget_out(resets)
            return await self._extractive.draft(request), True
        return draft, False

    def _count_unanswered(self, conversation_id: int, draft: Draft, settings: AppSettings) -> Draft:
        """Hand off after repeated drafts that found nothing to answer from."""
        if draft.grounded and not draft.handoff:
            self._unanswered.pop(conversation_id, None)
            return draft
        count = self._unanswered.get(conversation_id, 0) + 1
        self._unanswered[conversation_id] = count
        if count >= settings.max_unanswered and not draft.handoff:
            return msgspec.structs.replace(
                draft,
                handoff=True,
                handoff_reason="The assistant found no answer several times in a row.",
            )
        return draft

    def _decide(
        self,
        conversation: Conversation,
        draft: Draft,
        budget_out: bool,
        settings: AppSettings,
        limits: list[UsageLimit],
    ) -> tuple[Decision, Facts]:
        now = self._clock()
        window = window_state(conversation.platform, conversation.last_inbound_ms, now, human=False)
        paused = sending_paused(limits, self._today())
        facts = Facts(
            window_open=window == "open",
            within_limits=paused is None,
            owner_took_over=conversation.assistant_paused,
            open_now=settings.hours.is_open(datetime.fromtimestamp(now / 1000, UTC)),
            limit_reason=paused,
        )
        decision = decide(settings.policy(conversation.channel_id), draft, facts)
        if budget_out and decision.action == "wait":
            return Decision("wait", f"{BUDGET_HOLD} {decision.reason or ''}".strip()), facts
        return decision, facts

    def _courtesy_kind(self, draft: Draft, facts: Facts, budget_out: bool) -> MessageKind | None:
        """Which message tells a customer in auto mode that a person will answer, if any."""
        if draft.handoff:
            return "handoff"
        if not facts.open_now:
            return "away"
        if budget_out:
            # Never silence: the AI budget is gone and the answer waits for the owner.
            return "limit" if self._budget_from_plan else "courtesy"
        return None

    async def _courtesy(
        self,
        conversation_id: int,
        message_id: int,
        settings: AppSettings,
        kind: MessageKind,
        tag: str,
    ) -> None:
        """In auto mode, tell a waiting customer a person will answer (once in a while),
        in the customer's language and script."""
        text = settings.profile.message(kind, tag)
        now = self._clock()
        if now - self._courtesy_sent.get(conversation_id, 0) < COURTESY_EVERY_MS:
            return
        self._courtesy_sent[conversation_id] = now
        await self.outbox.send(conversation_id, text, automatic=True, in_reply_to_id=message_id)

    # ---- shadow mode: compare the silent draft with what the owner sent ------------------

    def _watch_reply(self, conversation_id: int, message_id: int) -> None:
        pending = self._shadow.pop(conversation_id, None)
        if pending is not None:
            draft_id, topic = pending
            task = asyncio.get_running_loop().create_task(
                self._score(draft_id, message_id, topic), name=f"shadow-{conversation_id}"
            )
            self._scoring.add(task)
            task.add_done_callback(self._scoring.discard)

    async def _score(self, draft_id: int, message_id: int, topic: str | None) -> None:
        draft = await self.store.draft(draft_id)
        message = await self.store.message(message_id)
        if draft is None or message is None or message.author != "owner" or not message.text:
            return
        score = agreement(draft.text, message.text)
        await self.store.record_shadow(draft_id, message_id, score, topic)


def _trailing_customer_turns(turns: Sequence[Turn]) -> list[Turn]:
    trailing: list[Turn] = []
    for turn in reversed(turns):
        if turn.role != "customer":
            break
        trailing.append(turn)
    return list(reversed(trailing))
