"""Files to parsed documents: PDF, DOCX, TXT, Markdown and HTML (blocking; run in a thread)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import docx
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from pypdf import PdfReader

from .chunking import Block, ParsedDocument
from .errors import DocumentError
from .html import parse_html

__all__ = ["MAX_FILE_BYTES", "SUPPORTED_SUFFIXES", "decode_text", "parse_file"]

MAX_FILE_BYTES = 200 * 1024 * 1024
SUPPORTED_SUFFIXES = frozenset(
    {".pdf", ".docx", ".txt", ".text", ".md", ".markdown", ".html", ".htm"}
)
_HINTS = {
    ".doc": "old Word .doc files are not supported; save it as .docx or PDF",
    ".odt": "OpenDocument files are not supported; save it as .docx or PDF",
    ".rtf": "RTF files are not supported; save it as .docx or PDF",
    ".xlsx": "spreadsheets are not supported; export the sheet as CSV/PDF or add FAQs by hand",
    ".xls": "spreadsheets are not supported; export the sheet as PDF or add FAQs by hand",
}
_SPACES = re.compile(r"[ \t\f\v]+")


def decode_text(data: bytes) -> str:
    """Bytes of a text file to str: BOMs, then UTF-8, then Windows-1250 (Central Europe).

    Raises DocumentError for binary content, so a renamed image is not indexed as text.
    """
    head = data[:8192]
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if b"\x00" in head or controls > len(head) * 0.05:
        raise DocumentError("the file holds binary data, not text (is the extension right?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Albanian ë/ç and Serbian č/ć/đ/š/ž are all in Windows-1250, the usual legacy code page.
        return data.decode("cp1250", errors="replace")


def _paragraphs(text: str) -> list[Block]:
    """Blank lines separate paragraphs; single line breaks inside one are soft."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    for para in re.split(r"\n\s*\n", text):
        joined = re.sub(r"-\n(?=[a-zà-ž])", "", para)  # hyphenated line ends
        joined = _SPACES.sub(" ", joined.replace("\n", " ")).strip()
        if joined:
            blocks.append(Block("para", joined))
    return blocks


_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MD_INLINE = (
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images: keep alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links: keep the words
    (re.compile(r"<[^>\n]+>"), " "),  # inline HTML
    (re.compile(r"(\*\*|__|`+|~~)"), ""),
    (re.compile(r"(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)"), ""),
)


def _md_inline(text: str) -> str:
    for pattern, repl in _MD_INLINE:
        text = pattern.sub(repl, text)
    return text


def parse_markdown(text: str, default_title: str) -> ParsedDocument:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
        lines = lines[end + 1 :] if end else lines
    blocks: list[Block] = []
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        text = _SPACES.sub(" ", " ".join(para)).strip()
        para.clear()
        if text:
            blocks.append(Block("para", text))

    for i, line in enumerate(lines):
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            para.append(line)
            continue
        heading = _ATX.match(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if heading:
            flush()
            blocks.append(
                Block("heading", _md_inline(heading.group(2)), level=len(heading.group(1)))
            )
        elif line.strip() and not para and _SETEXT.match(nxt) and not _LIST_ITEM.match(line):
            blocks.append(Block("heading", _md_inline(line.strip()), level=1 if "=" in nxt else 2))
        elif _SETEXT.match(line) and blocks and blocks[-1].kind == "heading" and not para:
            continue  # the underline of a setext heading
        elif not line.strip() or (re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", line) and "-" in line):
            flush()  # blank line, or a table's separator row
        else:
            if _LIST_ITEM.match(line) or line.lstrip().startswith(("|", ">")):
                flush()
            para.append(_md_inline(_LIST_ITEM.sub("", line).lstrip("> ").strip().strip("|")))
    flush()
    title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), default_title)
    return ParsedDocument(title=title, blocks=blocks)


def _pdf_outline(reader: Any) -> dict[int, list[tuple[int, str]]]:
    """Bookmarks by 0-based page: the headings a PDF declares for itself."""
    by_page: dict[int, list[tuple[int, str]]] = defaultdict(list)

    def walk(items: list[Any], level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: S112 - a broken bookmark is not worth failing the file for
                continue
            title = str(getattr(item, "title", "") or "").strip()
            if title and page is not None and page >= 0:
                by_page[page].append((level, title))

    try:
        walk(list(reader.outline), 1)
    except Exception:
        return {}
    return by_page


def parse_pdf(path: Path) -> ParsedDocument:
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                # Owner-password-only PDFs (print/copy restrictions) open with no password.
                opened = bool(reader.decrypt(""))
            except Exception:
                opened = False
            if not opened:
                raise DocumentError(
                    "the PDF is password-protected; remove the password and import it again"
                )
        pages = list(reader.pages)
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(f"not a readable PDF ({type(exc).__name__}: {exc})") from exc
    outline = _pdf_outline(reader)
    blocks: list[Block] = []
    failed = 0
    for number, page in enumerate(pages):
        for level, title in outline.get(number, ()):
            blocks.append(Block("heading", title, level=level, page=number + 1))
        try:
            text = page.extract_text() or ""
        except Exception:
            failed += 1
            continue
        blocks.extend(Block("para", b.text, page=number + 1) for b in _paragraphs(text))
    if not any(b.kind == "para" for b in blocks):
        if failed:
            raise DocumentError(f"could not extract text from any of the {len(pages)} PDF pages")
        raise DocumentError("the PDF has no text layer (a scan?); run OCR on it first")
    meta_title = ""
    try:
        metadata = reader.metadata
        meta_title = str(metadata.get("/Title") or "").strip() if metadata else ""
    except Exception:
        meta_title = ""
    return ParsedDocument(title=meta_title or path.stem, blocks=blocks, pages=len(pages))


_DOCX_HEADING = re.compile(r"^(?:heading|titulli|naslov|überschrift|titolo)\s*(\d)$", re.I)


def parse_docx(path: Path) -> ParsedDocument:
    try:
        document = docx.Document(str(path))
    except Exception as exc:
        raise DocumentError(f"not a readable Word .docx file ({type(exc).__name__})") from exc
    blocks: list[Block] = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            para = Paragraph(child, document)
            text = _SPACES.sub(" ", para.text).strip()
            if not text:
                continue
            style = para.style
            names = (style.name or "", style.style_id or "") if style is not None else ("", "")
            level = next((int(m.group(1)) for n in names if (m := _DOCX_HEADING.match(n))), None)
            if any(n.lower() == "title" for n in names):
                level = 0
            blocks.append(
                Block("heading", text, level=level) if level is not None else Block("para", text)
            )
        elif child.tag == qn("w:tbl"):
            for row in Table(child, document).rows:
                cells = dict.fromkeys(_SPACES.sub(" ", c.text).strip() for c in row.cells)
                line = " | ".join(c for c in cells if c)
                if line:
                    blocks.append(Block("para", line))
    title = (document.core_properties.title or "").strip()
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), path.stem)
    return ParsedDocument(title=title, blocks=blocks)


def parse_file(path: Path) -> ParsedDocument:
    """Parse one file; every failure is a DocumentError whose message explains it."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        hint = _HINTS.get(suffix)
        kinds = "PDF, DOCX, TXT, Markdown or HTML"
        raise DocumentError(hint or f"unsupported file type '{suffix or path.name}' (use {kinds})")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(f"cannot read the file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DocumentError("the file is empty")
    if size > MAX_FILE_BYTES:
        raise DocumentError(f"the file is too large ({size // 2**20} MiB; the limit is 200 MiB)")
    if suffix == ".pdf":
        parsed = parse_pdf(path)
    elif suffix == ".docx":
        parsed = parse_docx(path)
    else:
        try:
            text = decode_text(path.read_bytes())
        except OSError as exc:
            raise DocumentError(f"cannot read the file: {exc.strerror or exc}") from exc
        if suffix in (".md", ".markdown"):
            parsed = parse_markdown(text, path.stem)
        elif suffix in (".html", ".htm"):
            page = parse_html(text)
            parsed = ParsedDocument(title=page.title or path.stem, blocks=page.blocks)
        else:
            parsed = ParsedDocument(title=path.stem, blocks=_paragraphs(text))
    if not any(b.kind == "para" for b in parsed.blocks):
        raise DocumentError("the file has no text to import")
    return parsed
