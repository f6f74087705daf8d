"""Document import: every format keeps headings and pages; bad files fail alone, clearly."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import docx
import lancedb
import pytest
from pypdf import PdfReader, PdfWriter

from desktop.core.kb import KnowledgeBase, Progress
from desktop.core.kb.store import TABLE


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def build_pdf(
    pages: Sequence[Sequence[str]], outline: Sequence[tuple[str, int]] = (), title: str = ""
) -> bytes:
    """A minimal valid PDF: a Helvetica text line per entry, bookmarks on 0-based pages."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    page_ids = []
    for lines in pages:
        ops = b" ".join(_pdf_string(line) + b" '" for line in lines)
        stream = b"BT /F1 11 Tf 72 760 Td 14 TL " + ops + b" ET"
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (pages_id, font, content)
            )
        )
    kids = b" ".join(b"%d 0 R" % p for p in page_ids)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids))
    extra = b""
    if outline:
        root = add(b"")
        items = [add(b"") for _ in outline]
        for n, (item, (label, page)) in enumerate(zip(items, outline, strict=True)):
            links = b""
            if n > 0:
                links += b" /Prev %d 0 R" % items[n - 1]
            if n < len(items) - 1:
                links += b" /Next %d 0 R" % items[n + 1]
            objects[item - 1] = b"<< /Title %s /Parent %d 0 R /Dest [%d 0 R /Fit]%s >>" % (
                _pdf_string(label),
                root,
                page_ids[page],
                links,
            )
        objects[root - 1] = b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>" % (
            items[0],
            items[-1],
            len(items),
        )
        extra = b" /Outlines %d 0 R" % root
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_id, extra)
    info = add(b"<< /Title %s >>" % _pdf_string(title)) if title else None
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % off for off in offsets)
    info_ref = b" /Info %d 0 R" % info if info else b""
    out.write(b"trailer\n<< /Size %d /Root %d 0 R%s >>\n" % (len(objects) + 1, catalog, info_ref))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    base = await KnowledgeBase.open(tmp_path / "kb")
    yield base
    await base.close()


async def chunk_count(kb: KnowledgeBase) -> int:
    db = await lancedb.connect_async(str(kb.path / "lance"))
    table = await db.open_table(TABLE)
    return int(await table.count_rows())


async def test_pdf_keeps_pages_and_bookmark_headings(kb: KnowledgeBase, tmp_path: Path) -> None:
    """PDF chunks carry their page number and the bookmark headings above them."""
    pdf = tmp_path / "katalog.pdf"
    pdf.write_bytes(
        build_pdf(
            [
                ["Katalogu 2026.", "Këpucët tona janë prej lëkure."],
                ["Garancia zgjat dy vjet.", "Riparimet janë falas."],
                ["Dërgesa bëhet me postë."],
            ],
            outline=[("Produktet", 0), ("Garancia", 1), ("Dërgesa", 2)],
            title="Katalogu",
        )
    )
    report = await kb.import_file(pdf)
    result = report.items[0]
    assert result.ok, result.message
    assert result.message == "imported: 3 chunks from 3 pages"
    hit = (await kb.search("garancia riparimet"))[0]
    assert (hit.item_type, hit.title, hit.page, hit.heading_path) == (
        "document", "Katalogu", 2, ("Garancia",)
    )  # fmt: skip
    assert hit.source == str(pdf.resolve())
    assert "Riparimet janë falas." in hit.text


async def test_docx_keeps_heading_styles_and_tables(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Word "Title"/"Heading n" styles become the heading path; table rows are text."""
    document = docx.Document()
    document.add_heading("Manuali i dyqanit", 0)
    document.add_heading("Pagesat", 1)
    document.add_paragraph("Pranojmë para në dorë dhe kartela.")
    document.add_heading("Me kartelë", 2)
    document.add_paragraph("Visa dhe Mastercard pa tarifë shtesë.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Produkti"
    table.cell(0, 1).text = "Çmimi"
    table.cell(1, 0).text = "Çanta"
    table.cell(1, 1).text = "25 €"
    path = tmp_path / "manuali.docx"
    document.save(str(path))
    report = await kb.import_file(path)
    assert report.items[0].ok, report.items[0].message
    hit = (await kb.search("mastercard tarifë"))[0]
    assert hit.title == "Manuali i dyqanit"
    assert hit.heading_path == ("Manuali i dyqanit", "Pagesat", "Me kartelë")
    assert "Çanta | 25 €" in (await kb.search("canta"))[0].text


async def test_markdown_headings_become_paths(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Markdown # headings (not inside code fences) nest into heading paths."""
    path = tmp_path / "faq.md"
    path.write_text(
        "---\ntitle: ignored front matter\n---\n# Udhëzuesi\n\nHyrje e shkurtër.\n\n"
        "## Kthimet\n\nKthimet pranohen për **14 ditë** [këtu](https://x.example).\n\n"
        "```\n# not a heading\n```\n\n### Rimbursimi\n\n- Paratë kthehen në kartelë.\n",
        encoding="utf-8",
    )
    report = await kb.import_file(path)
    assert report.items[0].ok, report.items[0].message
    hit = (await kb.search("paratë kthehen kartelë"))[0]
    assert hit.title == "Udhëzuesi"
    assert hit.heading_path == ("Udhëzuesi", "Kthimet", "Rimbursimi")
    intro = (await kb.search("kthimet pranohen"))[0]
    assert intro.text.startswith("Kthimet pranohen për 14 ditë këtu.")


async def test_html_and_txt_files(kb: KnowledgeBase, tmp_path: Path) -> None:
    """HTML files lose their chrome and keep h1-h6; TXT in Windows-1250 decodes right."""
    html = tmp_path / "orari.html"
    html.write_text(
        "<html><head><title>Orari</title></head><body><nav>Menu</nav><main><h1>Orari</h1>"
        "<h2>Vera</h2><p>Hapur 8-22.</p></main><footer>Footer</footer></body></html>",
        encoding="utf-8",
    )
    txt = tmp_path / "napomena.txt"
    txt.write_bytes("Plaćanje pouzećem je moguće.\n\nĐaci imaju popust.".encode("cp1250"))
    report = await kb.import_file(html)
    assert report.items[0].ok
    hit = (await kb.search("hapur vera"))[0]
    assert (hit.title, hit.heading_path, hit.text) == ("Orari", ("Orari", "Vera"), "Hapur 8-22.")
    assert "Menu" not in hit.text
    report = await kb.import_file(txt)
    assert report.items[0].ok
    hit = (await kb.search("placanje pouzecem"))[0]
    assert hit.text == "Plaćanje pouzećem je moguće.\n\nĐaci imaju popust."
    assert (await kb.search("djaci popust"))[0].item_id == hit.item_id


async def test_reimport_updates_only_when_changed(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The same path again is "unchanged"; edited content replaces the old chunks."""
    path = tmp_path / "info.txt"
    path.write_text("Parkingu është falas.", encoding="utf-8")
    first = (await kb.import_file(path)).items[0]
    again = (await kb.import_file(path)).items[0]
    assert (again.message, again.item_id) == ("unchanged", first.item_id)
    path.write_text("Parkingu kushton 1 euro.", encoding="utf-8")
    updated = (await kb.import_file(path)).items[0]
    assert updated.message == "updated: 1 chunks"
    assert updated.item_id == first.item_id
    assert await kb.search("falas") == []
    assert await chunk_count(kb) == 1


async def test_rename_and_replace_keep_the_document(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A renamed document keeps its text and id, and its name through re-imports; another
    file read into it replaces the text under the same id; bad replacements change nothing."""
    first, second, other = tmp_path / "a.md", tmp_path / "b.md", tmp_path / "c.md"
    first.write_text("# Orari\n\nHapur çdo ditë nga ora 9 deri në 18.", encoding="utf-8")
    second.write_text("# Orari i ri\n\nHapur çdo ditë nga ora 8 deri në 20.", encoding="utf-8")
    other.write_text("Parkingu është falas.", encoding="utf-8")
    item_id = (await kb.import_file(first)).items[0].item_id
    assert item_id is not None
    other_id = (await kb.import_file(other)).items[0].item_id

    renamed = await kb.rename_document(item_id, "  Orari  i dyqanit ")
    assert (renamed.item_id, renamed.title, renamed.chunks) == (item_id, "Orari i dyqanit", 1)
    hit = (await kb.search("dyqanit"))[0]
    assert (hit.item_id, hit.title) == (item_id, "Orari i dyqanit")
    assert "ora 9 deri në 18" in hit.text
    with pytest.raises(ValueError, match="needs a name"):
        await kb.rename_document(item_id, "   ")

    result = await kb.replace_document(item_id, second)
    assert (result.ok, result.message, result.item_id) == (True, "updated: 1 chunks", item_id)
    info = await kb.get_item(item_id)
    assert info is not None
    assert (info.title, info.source) == ("Orari i dyqanit", str(second.resolve()))
    assert "ora 8 deri në 20" in (await kb.search("hapur ora"))[0].text
    assert all("ora 9" not in h.text for h in await kb.search("hapur ora"))
    assert await kb.import_file(second) is not None
    assert [i.item_id for i in await kb.list_items("document")] == [item_id, other_id]

    taken = await kb.replace_document(item_id, other)
    assert (taken.ok, taken.message) == (False, "this file is already imported as “c”")
    missing = await kb.replace_document(item_id, tmp_path / "nope.md")
    assert (missing.ok, missing.message) == (False, "no such file")
    assert "ora 8 deri në 20" in (await kb.search("hapur ora"))[0].text


async def test_bad_files_each_fail_clearly_and_leave_the_base_intact(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    """Corrupt, encrypted, binary, empty and unsupported files get their own message."""
    await kb.add_faq("Orari?", "9-17.")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(build_pdf([["Sekret."]]))))
    writer.encrypt(user_password="fjalekalimi", owner_password="owner", algorithm="AES-128")
    encrypted = io.BytesIO()
    writer.write(encrypted)
    (folder / "locked.pdf").write_bytes(encrypted.getvalue())
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500))
    (folder / "empty.md").write_bytes(b"")
    (folder / "blank.txt").write_text("  \n\n \n", encoding="utf-8")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (folder / "scan.pdf").write_bytes(build_pdf([[]]))
    (folder / "good.txt").write_text("Dyqani ka parking.", encoding="utf-8")
    report = await kb.import_file(folder)
    messages = {Path(r.source).name: (r.ok, r.message) for r in report.items}
    assert messages["good.txt"] == (True, "imported: 1 chunks")
    assert messages["corrupt.pdf"][1].startswith("not a readable PDF")
    assert messages["locked.pdf"][1] == (
        "the PDF is password-protected; remove the password and import it again"
    )
    assert (
        messages["photo.txt"][1] == "the file holds binary data, not text (is the extension right?)"
    )
    assert messages["empty.md"][1] == "the file is empty"
    assert messages["blank.txt"][1] == "the file has no text to import"
    assert messages["broken.docx"][1] == "not a readable Word .docx file (PackageNotFoundError)"
    assert messages["scan.pdf"][1] == "the PDF has no text layer (a scan?); run OCR on it first"
    assert sum(ok for ok, _ in messages.values()) == 1
    assert len(report.failed) == 7
    odd = tmp_path / "sheet.xlsx"
    odd.write_bytes(b"x")
    assert (await kb.import_file(odd)).items[0].message.startswith("spreadsheets are not supported")
    (tmp_path / "notes.xyz").write_bytes(b"x")
    assert (await kb.import_file(tmp_path / "notes.xyz")).items[0].message == (
        "unsupported file type '.xyz' (use PDF, DOCX, TXT, Markdown or HTML)"
    )
    assert (await kb.import_file(tmp_path / "missing.pdf")).items[0].message == "no such file"
    assert {h.title for h in await kb.search("orari parking")} == {"Orari?", "good"}


async def test_500_page_pdf_imports_in_chunks(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A 500-page PDF is parsed off the loop, chunked per page, and every page is findable."""
    pages = [
        [f"Faqja {n}: artikulli numër {n} kushton {n} euro.", "Teksti i përgjithshëm i faqes."]
        for n in range(1, 501)
    ]
    path = tmp_path / "big.pdf"
    path.write_bytes(build_pdf(pages))
    seen: list[Progress] = []
    report = await kb.import_file(path, progress=seen.append)
    assert report.items[0].ok
    assert report.items[0].chunks == 500
    assert report.items[0].message == "imported: 500 chunks from 500 pages"
    assert [p.phase for p in seen] == ["parse", "done"]
    hit = (await kb.search("faqja 437"))[0]
    assert hit.page == 437


async def test_cancel_stops_a_folder_import(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A set cancel event stops the import before the next file; done files stay."""
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(5):
        (folder / f"f{n}.txt").write_text(f"Skedari numër {n}.", encoding="utf-8")
    cancel = asyncio.Event()

    def on_progress(progress: Progress) -> None:
        if progress.done == 2:
            cancel.set()

    report = await kb.import_file(folder, progress=on_progress, cancel=cancel)
    assert report.cancelled
    assert [Path(r.source).name for r in report.items] == ["f0.txt", "f1.txt"]
    assert await chunk_count(kb) == 2
