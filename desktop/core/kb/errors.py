"""Errors the knowledge base raises; each message is meant to be shown to the owner."""

from __future__ import annotations

__all__ = ["DocumentError", "EmbeddingError", "ItemNotFoundError", "KnowledgeBaseError"]


class KnowledgeBaseError(Exception):
    """Base of every knowledge-base error."""


class DocumentError(KnowledgeBaseError):
    """A file could not be read as a document (corrupt, encrypted, empty, unsupported)."""


class EmbeddingError(KnowledgeBaseError):
    """The embedding model could not be reached or answered something unusable."""


class ItemNotFoundError(KnowledgeBaseError, KeyError):
    """No item has the given id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "item not found"
