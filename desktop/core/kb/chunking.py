"""Heading-aware chunking: parsed blocks in, chunks of a few hundred tokens out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from .text import estimate_tokens, split_sentences

__all__ = ["Block", "ChunkDraft", "ParsedDocument", "chunk_blocks"]

TARGET_TOKENS = 300
MAX_TOKENS = 420
OVERLAP_TOKENS = 60


class Block(msgspec.Struct, frozen=True):
    """A heading or a paragraph of a parsed document, with the page it is on (PDF)."""

    kind: Literal["heading", "para"]
    text: str
    level: int = 0
    page: int | None = None


class ParsedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document reduced to its title and blocks; ``pages`` is set for paged formats."""

    title: str
    blocks: list[Block]
    pages: int | None = None


class ChunkDraft(msgspec.Struct, frozen=True, kw_only=True):
    """One chunk's text and where it sits in its source."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


class _Builder:
    """Packs sentences into chunks; flushes at headings, pages and the size limits."""

    def __init__(self, target: int, maximum: int, overlap: int) -> None:
        self.target, self.maximum, self.overlap = target, maximum, overlap
        self.chunks: list[ChunkDraft] = []
        self.sentences: list[tuple[str, int, bool]] = []  # (text, tokens, starts paragraph)
        self.tokens = 0
        self.fresh = 0  # sentences not carried over as overlap
        self.path: tuple[str, ...] = ()
        self.page: int | None = None

    def flush(self, *, keep_overlap: bool) -> None:
        if self.fresh:
            parts: list[str] = []
            for text, _, starts_para in self.sentences:
                parts.append(("\n\n" if starts_para and parts else " " if parts else "") + text)
            self.chunks.append(
                ChunkDraft(text="".join(parts), heading_path=self.path, page=self.page)
            )
        carried: list[tuple[str, int, bool]] = []
        if keep_overlap and self.fresh:
            budget = self.overlap
            for sentence in reversed(self.sentences):
                if sentence[1] > budget or len(carried) >= len(self.sentences) - 1:
                    break
                carried.insert(0, sentence)
                budget -= sentence[1]
        self.sentences = carried
        self.tokens = sum(s[1] for s in carried)
        self.fresh = 0

    def add(self, sentence: str, starts_para: bool) -> None:
        tokens = max(1, estimate_tokens(sentence))
        if tokens > self.maximum:
            # A "sentence" this long is a list or a table flattened into one line: cut it
            # by words, the only place a chunk may end mid-sentence.
            words = sentence.split()
            step = max(1, int(self.target / 1.3))
            for i in range(0, len(words), step):
                self.add(" ".join(words[i : i + step]), starts_para and i == 0)
            return
        at_limit = self.tokens + tokens > self.maximum
        para_break = starts_para and self.tokens >= self.target
        if self.fresh and (at_limit or para_break):
            self.flush(keep_overlap=True)
        self.sentences.append((sentence, tokens, starts_para))
        self.tokens += tokens
        self.fresh += 1


def chunk_blocks(
    blocks: Iterable[Block],
    *,
    target_tokens: int = TARGET_TOKENS,
    max_tokens: int = MAX_TOKENS,
    overlap_tokens: int = OVERLAP_TOKENS,
) -> list[ChunkDraft]:
    """Chunks that never cross a heading or a page and never end mid-sentence.

    A chunk closes at a paragraph end once it reaches ``target_tokens`` and in any case
    before ``max_tokens``; a chunk that closed for size starts the next one with its
    last sentences (up to ``overlap_tokens``) so an answer spanning the cut is found.
    """
    builder = _Builder(target_tokens, max_tokens, overlap_tokens)
    stack: list[tuple[int, str]] = []
    for block in blocks:
        if block.page != builder.page:
            builder.flush(keep_overlap=False)
            builder.page = block.page
        if block.kind == "heading":
            builder.flush(keep_overlap=False)
            level = max(0, block.level)
            while stack and stack[-1][0] >= level:
                stack.pop()
            title = " ".join(block.text.split())
            if title:
                stack.append((level, title))
            builder.path = tuple(t for _, t in stack)
            continue
        for i, sentence in enumerate(split_sentences(block.text)):
            builder.add(sentence, starts_para=i == 0)
    builder.flush(keep_overlap=False)
    return builder.chunks
