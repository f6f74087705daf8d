"""Full-text search: paraphrases, Albanian diacritics, both Serbian scripts, odd queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from desktop.core.kb import FaqInput, KnowledgeBase
from desktop.core.kb.store import _match, _ranked

FAQS = [
    ("Sa kushton dërgesa?", "Dërgesa kushton 2 € në Prishtinë dhe 3 € jashtë saj."),
    ("Kur jeni të hapur?", "Jemi të hapur çdo ditë nga ora 9 deri në 20."),
    ("A mund ta kthej mallin?", "Po, malli kthehet brenda 14 ditëve me faturë."),
    ("Koji je rok isporuke?", "Isporuka traje od 2 do 4 radna dana."),
    ("Где се налази продавница?", "Продавница се налази у улици Ђорђа Вашингтона 12."),
    ("Do you ship abroad?", "We ship to Albania, North Macedonia and Montenegro."),
]


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    base = await KnowledgeBase.open(tmp_path / "kb")
    for question, answer in FAQS:
        await base.add_faq(question, answer, item_id=question)
    yield base
    await base.close()


async def top(kb: KnowledgeBase, query: str) -> str:
    hits = await kb.search(query, k=3)
    assert hits, f"nothing found for {query!r}"
    return hits[0].title


async def test_paraphrase_keywords_find_the_faq(kb: KnowledgeBase) -> None:
    """A customer's own wording finds the FAQ through shared keywords."""
    assert await top(kb, "sa kushton transporti dërgesa për Prishtinë") == "Sa kushton dërgesa?"
    assert await top(kb, "deri në çfarë ore jeni të hapur") == "Kur jeni të hapur?"
    assert await top(kb, "can you ship to Albania?") == "Do you ship abroad?"


async def test_albanian_with_and_without_diacritics(kb: KnowledgeBase) -> None:
    """ "çmimi"/"cmimi", "dërgesa"/"dergesa" and "ditëve"/"diteve" match each other."""
    await kb.add_faq("Çmimi i paketimit?", "Paketimi është falas.", item_id="pack")
    assert await top(kb, "cmimi paketimit") == "Çmimi i paketimit?"
    assert await top(kb, "çmimi") == "Çmimi i paketimit?"
    assert await top(kb, "dergesa kushton") == "Sa kushton dërgesa?"
    assert await top(kb, "kthimi brenda 14 diteve") == "A mund ta kthej mallin?"


async def test_serbian_cyrillic_and_latin_find_each_other(kb: KnowledgeBase) -> None:
    """A Cyrillic query finds Latin text and a Latin query finds Cyrillic text."""
    assert await top(kb, "рок испоруке") == "Koji je rok isporuke?"
    assert await top(kb, "gde se nalazi prodavnica") == "Где се налази продавница?"
    assert await top(kb, "ulica Djordja Vasingtona") == "Где се налази продавница?"
    assert await top(kb, "Đorđa Vašingtona") == "Где се налази продавница?"


@pytest.mark.parametrize(
    "query",
    [
        '"dërgesa',
        "dërgesa AND (kushton",
        "title:dërgesa",
        "*",
        "dërgesa~2^3",
        "\\",
        "' OR 1=1 --",
        "dërgesa\x00\x1f",
        "😀 dërgesa?!",
        "   ",
        "",
        "a" * 5000,
        "dërgesa " * 500,
    ],
)
async def test_odd_queries_never_crash(kb: KnowledgeBase, query: str) -> None:
    """Quotes, operators, control characters, emoji and huge queries are just words."""
    hits = await kb.search(query)
    if "dërgesa" in query:
        assert hits[0].title == "Sa kushton dërgesa?"


async def test_new_rows_are_searchable_at_once(kb: KnowledgeBase) -> None:
    """A chunk added after the indexes were built is found before any optimize."""
    await kb.add_faq("Pagesa me kartelë?", "Pranojmë Visa dhe Mastercard.", item_id="card")
    assert await top(kb, "mastercard") == "Pagesa me kartelë?"
    await kb.wait_idle()
    assert await top(kb, "mastercard") == "Pagesa me kartelë?"


async def test_k_limits_results_and_scores_descend(kb: KnowledgeBase) -> None:
    """At most k hits, best first."""
    hits = await kb.search("dërgesa isporuka ship hapur mallin", k=2)
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score


async def test_auto_language_stems_an_italian_base(tmp_path: Path) -> None:
    """An Italian base gets the Italian stemmer: "bollette" finds "bolletta"."""
    kb = await KnowledgeBase.open(tmp_path / "it")
    try:
        faqs = [
            FaqInput(question="Come posso pagare la bolletta?", answer="Puoi pagare la bolletta "
                     "in posta, in banca o con la domiciliazione sul conto corrente."),
            FaqInput(question="Come si attiva un contratto?", answer="Per attivare il contratto "
                     "è necessario chiamare il numero verde e avere i dati del cliente."),
            FaqInput(question="Cosa fare in caso di guasto?", answer="In caso di guasto alla rete "
                     "idrica chiamare il pronto intervento, attivo tutti i giorni."),
        ]  # fmt: skip
        await kb.add_faqs(faqs)
        assert kb.language == "it"
        hits = await kb.search("pagamento delle bollette")
        assert hits[0].title == "Come posso pagare la bolletta?"
    finally:
        await kb.close()


async def test_fixed_language_survives_reopen(tmp_path: Path) -> None:
    """language="en" is kept across reopen and stemming applies ("shipping" ~ "shipped")."""
    kb = await KnowledgeBase.open(tmp_path / "en", language="en")
    await kb.add_faq("When is my order shipped?", "Orders are shipped within a day.")
    await kb.close()
    kb = await KnowledgeBase.open(tmp_path / "en", language="en")
    try:
        assert kb.language == "en"
        assert (await kb.search("shipping times"))[0].title == "When is my order shipped?"
    finally:
        await kb.close()


async def test_the_direct_query_path_returns_what_lancedb_returns(kb: KnowledgeBase) -> None:
    """Ranked queries skip lancedb's schema read (``store._ranked``): same rows, same scores
    as its own ``to_arrow()``, for a full-text query and a filtered one."""
    table = kb._store.table
    for where in (None, "item_type = 'faq'"):
        query = (
            table.query()
            .nearest_to_text(_match("dergesa kushton", "f_all"))
            .select(["_score"])
            .with_row_id()
            .limit(5)
        )
        if where:
            query = query.where(where)
        direct = await _ranked(query)
        assert direct.num_rows > 0
        assert direct.to_pylist() == (await query.to_arrow()).to_pylist()
