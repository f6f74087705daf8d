"""Pure text pieces of the knowledge base: normalisation, sentences, chunking, HTML, language."""

from __future__ import annotations

from desktop.core.kb.analysis import analyze, fold_text, loose, unfilled, words_of
from desktop.core.kb.chunking import Block, chunk_blocks
from desktop.core.kb.html import parse_html
from desktop.core.kb.items import chunk_rows, faq_record, reanalysed
from desktop.core.kb.language import analyzer_for, detect_language
from desktop.core.kb.models import FaqInput
from desktop.core.kb.ranking import reciprocal_rank_fusion
from desktop.core.kb.text import (
    estimate_tokens,
    hamming,
    normalize_for_search,
    query_expansion,
    sanitize_query,
    simhash,
    split_sentences,
)


def test_cyrillic_is_transliterated_to_serbian_latin() -> None:
    """Serbian Cyrillic becomes Gaj's Latin, with đ/ђ written "dj" as people type it."""
    assert normalize_for_search("Ђорђе, љубав, њива, џемпер, ћевап") == (
        "Djordje, ljubav, njiva, džemper, ćevap"
    )
    assert normalize_for_search("Đakovica") == "Djakovica"
    assert normalize_for_search("çmimi ë") == "çmimi ë"  # Albanian letters are left to folding


def test_sanitize_query_keeps_only_words() -> None:
    """Operators, quotes, brackets and control characters never reach the FTS parser."""
    assert (
        sanitize_query('"hello" (world) AND title:x\x00 c++ ~2 ^3', loose_forms=False)
        == "hello world and title x c 2 3"
    )
    assert sanitize_query("   ") == ""
    assert sanitize_query("!!! ??? ***") == ""
    assert len(sanitize_query("fjala " * 1000, loose_forms=False).split()) == 64


def test_words_meet_across_diacritics_scripts_and_endings() -> None:
    """Typed without ë/ç/č/š, in Cyrillic or inflected, a word keeps the same loose form."""
    assert fold_text("Dërgesë ÇMIMI Доставу đak") == "dergese cmimi dostavu djak"
    assert {loose(w) for w in words_of("dërgesa dergesen dërgesës")} == {"derg"}
    assert {loose(w) for w in words_of("доставу dostava dostavom")} == {"dost"}
    assert analyze("Dërgesa falas") == "dergesa derg falas fala"
    assert words_of("A keni Wi-Fi, e-mail? Mon-Fri") == ["a", "keni", "wifi", "email", "mon", "fri"]
    assert analyze("Dërgesa falas", loose_forms=False) == "dergesa falas"


def test_greetings_are_left_out_and_other_languages_added() -> None:
    """A question drops "Pershendetje"/"dobar dan"/"hi" and gains the lexicon's translations."""
    assert unfilled("Përshëndetje, dobar dan! Hi, ju lutem: orari?") == ["orari"]
    assert "hi" not in sanitize_query("Hi, how much is delivery?").split()
    added = query_expansion("Hi, how much is delivery?").split()
    assert {"derg", "dost", "cmim", "cena"} <= set(added)  # Albanian and Serbian forms
    assert "deli" not in added  # the question's own word is searched at full weight
    assert query_expansion("Do you deliver?", loose_forms=False) == ""


def test_sentences_do_not_split_abbreviations_or_numbers() -> None:
    """Short forms, initials and decimals stay inside their sentence."""
    text = "Dr. Ana vjen nesër. Çmimi është 2.5 euro! A keni p.sh. pica? Po."
    assert split_sentences(text) == [
        "Dr. Ana vjen nesër.",
        "Çmimi është 2.5 euro!",
        "A keni p.sh. pica?",
        "Po.",
    ]


def test_chunks_respect_headings_size_and_sentences() -> None:
    """Chunks never cross a heading, stay under the limit, end at sentence ends, overlap."""
    sentences = [
        f"Sentence number {i} talks about delivery and prices in town." for i in range(120)
    ]
    blocks = [
        Block("heading", "Shop", level=1),
        Block("heading", "Delivery", level=2),
        *(Block("para", " ".join(sentences[i : i + 4])) for i in range(0, 120, 4)),
        Block("heading", "Returns", level=2),
        Block("para", "Returns are free within 14 days."),
    ]
    chunks = chunk_blocks(blocks, target_tokens=120, max_tokens=160, overlap_tokens=30)
    assert len(chunks) > 5
    assert chunks[-1].heading_path == ("Shop", "Returns")
    assert chunks[-1].text == "Returns are free within 14 days."
    for chunk in chunks[:-1]:
        assert chunk.heading_path == ("Shop", "Delivery")
        assert estimate_tokens(chunk.text) <= 160
        assert chunk.text.endswith(".")
        assert chunk.text.startswith("Sentence number")
    # Consecutive chunks share their boundary sentence (overlap).
    assert split_sentences(chunks[0].text)[-1] in chunks[1].text
    assert split_sentences(chunks[1].text)[0] in chunks[0].text


def test_chunks_never_span_pages() -> None:
    """A page boundary always closes the chunk; each chunk keeps its page number."""
    blocks = [Block("para", f"Text on page {p}.", page=p) for p in (1, 1, 2, 3)]
    chunks = chunk_blocks(blocks)
    assert [c.page for c in chunks] == [1, 2, 3]
    assert chunks[0].text == "Text on page 1.\n\nText on page 1."


def test_overlong_sentence_is_cut_by_words() -> None:
    """A sentence longer than the limit (a flattened table) is the one case cut mid-sentence."""
    chunks = chunk_blocks([Block("para", "word " * 2000)], target_tokens=100, max_tokens=150)
    assert len(chunks) >= 10
    assert all(estimate_tokens(c.text) <= 150 for c in chunks)


def test_html_main_text_drops_boilerplate_and_keeps_headings() -> None:
    """Nav, header, footer, aside, scripts and forms go; <main> headings become blocks."""
    html = """<html><head><title>Dyqani</title><script>var x = 1;</script></head><body>
      <header><a href="/">Logo</a> Menu text</header>
      <nav><a href="/a">A</a> <a href="/b">B</a></nav>
      <main><article><header><h1>Kthimi i mallit</h1></header>
        <p>Mund ta ktheni mallin <b>brenda 14 ditëve</b>.</p>
        <h2>Si?</h2><ul><li>Sillni faturën.</li><li>Sillni produktin.</li></ul>
        <form><input name="q"> Search box</form>
      </article></main>
      <aside>Related links</aside><footer>© 2026 Footer text</footer>
    </body></html>"""
    page = parse_html(html, "https://shop.example/kthimi")
    assert page.title == "Dyqani"
    assert [(b.kind, b.text) for b in page.blocks] == [
        ("heading", "Kthimi i mallit"),
        ("para", "Mund ta ktheni mallin brenda 14 ditëve."),
        ("heading", "Si?"),
        ("para", "Sillni faturën."),
        ("para", "Sillni produktin."),
    ]
    assert "https://shop.example/a" in page.links
    assert "https://shop.example/" in page.links


def test_html_without_main_uses_body_and_skips_hidden_parts() -> None:
    """Without <main>/<article> the body is used, minus chrome and hidden elements."""
    html = """<body><div id="menu" role="navigation">Home About</div>
      <div><h3>Orari</h3>Hapur 9-17.<br>E diel mbyllur.<span hidden>secret</span></div>
      <footer>footer</footer><noscript>enable js</noscript></body>"""
    page = parse_html(html, "http://127.0.0.1/")
    assert page.text == "Orari\nHapur 9-17.\nE diel mbyllur."


def test_simhash_finds_near_duplicates() -> None:
    """Pages differing in a word are a few bits apart; different pages are far apart."""
    base = " ".join(f"word{i} common text about our shop" for i in range(60))
    near = base.replace("word7 ", "changed ")
    other = " ".join(f"other{i} unrelated content on returns" for i in range(60))
    assert hamming(simhash(base), simhash(near)) <= 3
    assert hamming(simhash(base), simhash(other)) > 10


def test_language_detection() -> None:
    """The dominant language picks the stemmer; Albanian and Serbian get none."""
    sq = ["Dërgesa është falas për porositë mbi 50 euro dhe ne e dërgojmë në një ditë."] * 3
    sr = ["Достава је бесплатна за поруџбине преко 50 евра и стиже за један дан."] * 3
    it = ["Il contratto è intestato al cliente e non può essere ceduto per la fornitura."] * 3
    en = ["The delivery is free for orders over 50 euro and you can track it online."] * 3
    assert detect_language(sq) == "sq"
    assert detect_language(sr) == "sr"
    assert detect_language(it) == "it"
    assert detect_language(en) == "en"
    assert detect_language(["ok"]) == "und"
    assert analyzer_for("sq").stem_language is None
    assert analyzer_for("it").stem_language == "Italian"
    assert analyzer_for("en").remove_stop_words


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    """An id ranked well by both lists beats ids ranked first by only one."""
    fused = reciprocal_rank_fusion(["a", "b", "c"], ["b", "d", "a"])
    assert [i for i, _ in fused][:2] == ["b", "a"]


def test_stored_chunks_are_analysed_again_the_same_way() -> None:
    """A chunk's search fields rebuilt from its stored payload (after an analysis change)
    equal those written when it was added, alternatives and tags included."""
    record = faq_record(
        FaqInput(
            question="Sa kushton dërgesa?",
            answer="Dërgesa kushton 2 € në Prishtinë.",
            alternatives=("A dërgoni falas?",),
            tags=("transport",),
        )
    )
    (row,) = chunk_rows(record)
    assert reanalysed(row.payload, record) == (row.f_title, row.f_tags, row.f_all)
    assert "derg" in row.f_title.split() and "falas" in row.f_title.split()
