"""The knowledge base: offers, FAQs, documents and web pages, searched by BM25 and vectors."""

from __future__ import annotations

from .base import UNSET, KnowledgeBase
from .embeddings import Embedder, OpenAIEmbedder
from .errors import DocumentError, EmbeddingError, ItemNotFoundError, KnowledgeBaseError
from .models import (
    CrawlLimits,
    FaqInput,
    ImportReport,
    ImportResult,
    ItemInfo,
    ItemType,
    PendingChange,
    Progress,
    SearchHit,
    SearchMode,
)

__all__ = [
    "UNSET",
    "CrawlLimits",
    "DocumentError",
    "Embedder",
    "EmbeddingError",
    "FaqInput",
    "ImportReport",
    "ImportResult",
    "ItemInfo",
    "ItemNotFoundError",
    "ItemType",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "OpenAIEmbedder",
    "PendingChange",
    "Progress",
    "SearchHit",
    "SearchMode",
]
