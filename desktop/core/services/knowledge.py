"""Knowledge: the shop's items (FAQs, offers, documents, web pages), imports, asking the
assistant a test question, the websites' scheduled re-sync, and which drafter answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from desktop.core.drafting import Draft, Drafter, DraftRequest, ExtractiveDrafter, LLMDrafter, Turn
from desktop.core.kb import CrawlLimits, KnowledgeBase, OpenAIEmbedder
from desktop.core.kb.models import (
    ImportReport,
    ImportResult,
    ItemInfo,
    PendingChange,
    Progress,
    SearchHit,
)
from desktop.core.settings import AppSettings

from .preferences import Preferences

__all__ = ["AskResult", "Drafters", "KnowledgeService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AskResult:
    hits: list[SearchHit]
    draft: Draft


class Drafters:
    """The drafter the settings call for: a model when one is configured, else extractive.

    The model's client is made on first use and closed when the AI settings change."""

    def __init__(self, preferences: Preferences) -> None:
        self.preferences = preferences
        self._llm: LLMDrafter | None = None
        self._extractive = ExtractiveDrafter()
        preferences.on_change(self._settings_changed)

    def current(self) -> Drafter:
        settings = self.preferences.settings
        if not settings.ai_configured:
            return self._extractive
        if self._llm is None:
            self._llm = LLMDrafter(settings.ai)
        return self._llm

    async def _settings_changed(self, old: AppSettings, new: AppSettings) -> None:
        if new.ai != old.ai:
            await self.aclose()
        if new.embeddings != old.embeddings:
            log.info("embedding settings changed; they apply when the app restarts")

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()
            self._llm = None


class KnowledgeService:
    """What the knowledge screen and the draft's citations need from the knowledge base."""

    def __init__(self, preferences: Preferences, kb: KnowledgeBase, drafters: Drafters) -> None:
        self.preferences = preferences
        self.kb = kb
        self.drafters = drafters
        self._resync: asyncio.Task[None] | None = None
        #: Called after each scheduled re-sync (the knowledge screen shows what changed).
        self._resynced: list[Callable[[], None]] = []

    # ---- items --------------------------------------------------------------------------

    async def list_items(self) -> list[ItemInfo]:
        return await self.kb.list_items()

    async def get_item(self, item_id: str) -> ItemInfo | None:
        return await self.kb.get_item(item_id)

    async def chunk(self, chunk_id: str) -> SearchHit | None:
        """One passage by id (a draft's citation)."""
        return await self.kb.chunk(chunk_id)

    async def delete_item(self, item_id: str) -> bool:
        return await self.kb.delete_item(item_id)

    async def save_faq(
        self, item_id: str | None, question: str, answer: str, alternatives: Sequence[str]
    ) -> str:
        """Add a FAQ (``item_id`` None) or change one; returns its id."""
        if item_id is None:
            return await self.kb.add_faq(question, answer, alternatives)
        await self.kb.update_faq(
            item_id, question=question, answer=answer, alternatives=alternatives
        )
        return item_id

    async def save_offer(
        self,
        item_id: str | None,
        title: str,
        description: str,
        *,
        price: str | None,
        valid_from: date | None,
        valid_until: date | None,
    ) -> str:
        """Add an offer (``item_id`` None) or change one; returns its id."""
        if item_id is None:
            return await self.kb.add_offer(
                title, description, price=price, valid_from=valid_from, valid_until=valid_until
            )
        await self.kb.update_offer(
            item_id,
            title=title,
            description=description,
            price=price,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        return item_id

    async def rename_document(self, item_id: str, name: str) -> ItemInfo:
        return await self.kb.rename_document(item_id, name)

    async def replace_document(self, item_id: str, path: Path) -> ImportResult:
        return await self.kb.replace_document(item_id, path)

    # ---- imports ------------------------------------------------------------------------

    async def import_file(
        self,
        path: Path,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> ImportReport:
        return await self.kb.import_file(path, progress=progress, cancel=cancel)

    async def import_site(
        self,
        url: str,
        *,
        progress: Callable[[Progress], None] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> ImportReport:
        return await self.kb.import_site(url, progress=progress, cancel=cancel)

    # ---- website changes to review ------------------------------------------------------

    async def pending_changes(self) -> list[PendingChange]:
        return await self.kb.pending_changes()

    async def accept_change(self, item_id: str) -> bool:
        return await self.kb.accept_change(item_id)

    async def reject_change(self, item_id: str) -> bool:
        return await self.kb.reject_change(item_id)

    async def accept_all_changes(self) -> int:
        """Accept every waiting change; how many went live."""
        accepted = 0
        for change in await self.kb.pending_changes():
            accepted += await self.kb.accept_change(change.item_id)
        return accepted

    async def auto_accept_sites(self, roots: Sequence[str]) -> set[str]:
        """Which of these sites (``scheme://host/``) take changes without review."""
        return {root for root in roots if await self.kb.auto_accepts(root)}

    async def set_auto_accept(self, root: str, on: bool) -> None:
        await self.kb.set_auto_accept(root, on)

    def start(self) -> None:
        """Re-sync imported websites on the schedule the settings give (if any)."""
        hours = self.preferences.settings.resync_hours
        if self._resync is None and hours > 0:
            self._resync = asyncio.get_running_loop().create_task(
                self._resync_sites(hours), name="clientora-site-resync"
            )

    def on_resynced(self, listener: Callable[[], None]) -> None:
        self._resynced.append(listener)

    async def _resync_sites(self, hours: float) -> None:
        """Re-fetch imported websites on a schedule; only changed pages are re-indexed."""
        while True:
            await asyncio.sleep(hours * 3600)
            try:
                await self.resync_sites()
            except Exception:  # the next round tries again
                log.exception("scheduled website re-sync failed")

    async def resync_sites(self, limits: CrawlLimits | None = None) -> None:
        """Re-fetch every imported website now and tell the listeners (changed pages
        wait for the owner's review)."""
        report = await self.kb.resync_sites(limits=limits or CrawlLimits())
        for listener in self._resynced:
            listener()
        log.info(
            "websites re-synced",
            extra={
                "ok": report.ok_count,
                "to_review": sum(r.message.startswith("changed:") for r in report.items),
                "failed": len(report.failed),
            },
        )

    # ---- asking -------------------------------------------------------------------------

    async def ask(self, question: str) -> AskResult:
        """What the assistant would retrieve and draft for a test question."""
        hits = await self.kb.search(question, k=8)
        request = DraftRequest(
            profile=self.preferences.settings.profile,
            platform="messenger",
            turns=[Turn(role="customer", text=question, timestamp_ms=0)],
            hits=hits,
        )
        return AskResult(hits, await self.drafters.current().draft(request))

    async def close(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
            self._resync = None
        await self.drafters.aclose()
        await self.kb.close()
        if isinstance(self.kb.embedder, OpenAIEmbedder):
            await self.kb.embedder.aclose()
