"""Website import against a real local server: sitemaps, links, robots, limits, re-sync."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from desktop.core.kb import CrawlLimits, ImportReport, KnowledgeBase, Progress
from tests.fakes.server import ServedApp, serve_app

Message = MutableMapping[str, Any]

CHROME = """<header><a href="/">Dyqani Ylli</a> Menu kryesore</header>
<nav><a href="/">Ballina</a> <a href="/delivery">Dërgesa</a> <a href="/returns">Kthimet</a></nav>"""
FOOTER = "<footer>© 2026 Dyqani Ylli, të gjitha të drejtat e rezervuara</footer>"
DELIVERY = """<main><h1>Dërgesa</h1><h2>Brenda Kosovës</h2>
<p>Dërgesa brenda Kosovës kushton 2 euro dhe arrin për një deri dy ditë pune.</p>
<p>Porositë mbi 50 euro dërgohen falas me postën tonë partnere në çdo qytet.</p></main>"""


def page(body: str, title: str = "Dyqani Ylli", head: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title>{head}</head>"
        f"<body>{CHROME}{body}{FOOTER}</body></html>"
    ).encode()


class Site:
    """A small shop website with every trap a crawler meets; records each request path."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        self.slow_started = threading.Event()
        self.lock = threading.Lock()
        home = page(
            """<main><h1>Mirë se vini</h1><p>Dyqani Ylli shet këpucë dhe çanta në Prishtinë.</p>
            <a href="/returns">Kthimet</a> <a href="/a">A</a> <a href="/loop1">Loop</a>
            <a href="/missing">Missing</a> <a href="/slow">Slow</a> <a href="/huge">Huge</a>
            <a href="/file">Katalogu</a> <a href="/photo.jpg">Foto</a> <a href="/dup">Dup</a>
            <a href="/private/x">Private</a> <a href="http://other.example/">Other</a>
            <a href="/offsite">Offsite</a> <a href="/moved">Moved</a> <a href="/noindex">N</a>
            <a href="mailto:info@ylli.example">Mail</a></main>"""
        )
        self.set("/", home)
        self.set("/delivery", page(DELIVERY), etag='"d1"')
        self.set("/dup", page(DELIVERY, title="Dërgesa (print)"))
        self.set(
            "/returns",
            page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 14 ditëve me faturë.</p></main>"),
        )
        self.set(
            "/a",
            page('<main><h1>A</h1><p>Faqja A flet për madhësitë.</p><a href="/b">B</a></main>'),
        )
        self.set(
            "/b", page('<main><h1>B</h1><p>Faqja B flet për ngjyrat.</p><a href="/a">A</a></main>')
        )
        self.set(
            "/only-in-sitemap", page("<main><p>Oferta sekrete e javës: çanta lëkure.</p></main>")
        )
        self.set("/private/secret", page("<main><p>Të dhëna private.</p></main>"))
        self.set("/private/x", page("<main><p>Private x.</p></main>"))
        self.set(
            "/noindex",
            page("<main><p>Draft.</p></main>", head='<meta name="robots" content="noindex">'),
        )
        self.pages["/loop1"] = (302, {"location": "/loop2"}, b"")
        self.pages["/loop2"] = (302, {"location": "/loop1"}, b"")
        self.pages["/moved"] = (301, {"location": "/returns"}, b"")
        self.pages["/offsite"] = (302, {"location": "http://other.example/x"}, b"")
        self.pages["/file"] = (200, {"content-type": "application/pdf"}, b"%PDF-1.4 ...")

    def set(self, path: str, body: bytes, *, status: int = 200, etag: str = "") -> None:
        headers = {"content-type": "text/html; charset=utf-8"}
        if etag:
            headers["etag"] = etag
        with self.lock:
            self.pages[path] = (status, headers, body)

    def count(self, path: str) -> int:
        with self.lock:
            return Counter(self.requests)[path]

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path = scope["path"]
        base = f"http://127.0.0.1:{scope['server'][1]}"
        with self.lock:
            self.requests.append(path)
        request_headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        await receive()  # the (empty) request body
        if path == "/slow":
            self.slow_started.set()
            # Hold the request until the client gives up (time-out or cancel).
            await asyncio.wait_for(receive(), 30)
            return
        if path == "/huge":
            await send_huge(send)
            return
        headers: dict[str, str] = {}
        status, body = 200, self.special(path, base)
        if not body:
            with self.lock:
                status, headers, body = self.pages.get(path, (404, {}, b"<h1>Not found</h1>"))
            if headers.get("etag") and request_headers.get("if-none-match") == headers["etag"]:
                status, body = 304, b""
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def special(path: str, base: str) -> bytes:
        """robots.txt and a sitemap index pointing at a sitemap."""
        if path == "/robots.txt":
            return (
                f"User-agent: *\nDisallow: /private\nSitemap: {base}/sitemap_index.xml\n".encode()
            )
        if path == "/sitemap_index.xml":
            return (
                '<?xml version="1.0"?><sitemapindex><sitemap>'
                f"<loc>{base}/sitemap-pages.xml</loc></sitemap></sitemapindex>"
            ).encode()
        if path == "/sitemap-pages.xml":
            paths = ("/", "/delivery", "/only-in-sitemap", "/private/secret")
            locs = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
            return f"<urlset>{locs}</urlset>".encode()
        return b""


async def lifespan(
    receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


async def send_huge(send: Callable[[Message], Awaitable[None]]) -> None:
    """12.8 MB without a content-length: only the crawler's byte cap can stop it."""
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/html")],
    }
    await send(start)
    try:
        for _ in range(200):
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except Exception:  # noqa: S110 - the client hung up, as intended
        pass


LIMITS = CrawlLimits(max_pages=40, max_depth=3, concurrency=2, timeout_s=1.0,
                     max_redirects=3, max_bytes=1_000_000)  # fmt: skip


@pytest.fixture
def site() -> Iterator[tuple[Site, ServedApp]]:
    app = Site()
    with serve_app(app) as served:
        yield app, served


@pytest.fixture
async def kb(tmp_path: Path) -> AsyncIterator[KnowledgeBase]:
    base = await KnowledgeBase.open(tmp_path / "kb")
    yield base
    await base.close()


def by_path(report: ImportReport) -> dict[str, tuple[bool, str]]:
    return {urlsplit(r.source).path: (r.ok, r.message) for r in report.items}


async def test_site_import_follows_sitemaps_and_links_within_the_rules(
    kb: KnowledgeBase, site: tuple[Site, ServedApp]
) -> None:
    """Sitemap index + links are crawled once each; every trap ends with its own message."""
    app, served = site
    progress: list[Progress] = []
    report = await kb.import_site(served.url + "/", limits=LIMITS, progress=progress.append)
    results = by_path(report)
    assert not report.cancelled
    for path in ("/", "/returns", "/a", "/b", "/only-in-sitemap"):
        assert results[path] == (True, "imported: 1 chunks"), path
    duplicates = [
        p for p in ("/delivery", "/dup") if results[p][1].startswith("skipped: same content")
    ]
    assert len(duplicates) == 1
    assert results["/private/secret"] == (False, "blocked by robots.txt")
    assert results["/private/x"] == (False, "blocked by robots.txt")
    assert results["/loop1"] == (False, "more than 3 redirects (a redirect loop?)")
    assert results["/missing"] == (False, "HTTP 404")
    assert results["/slow"] == (False, "timed out after 1 s")
    assert results["/huge"] == (False, "skipped: page too large (over 1,000,000 bytes)")
    assert results["/file"] == (False, "skipped: not an HTML page (application/pdf)")
    assert results["/offsite"] == (False, "redirects to another site (http://other.example/x)")
    assert results["/noindex"] == (False, "skipped: the page asks not to be indexed (noindex)")
    assert results["/moved"] == (True, "unchanged")  # same page as /returns, stored once
    # Loops and robots: nothing fetched twice, nothing private or off-site fetched at all.
    assert app.count("/a") == app.count("/b") == app.count("/") == 1
    assert app.count("/private/secret") == app.count("/private/x") == 0
    assert app.count("/photo.jpg") == 0
    assert {p.phase for p in progress} >= {"robots", "sitemap", "crawl", "done"}
    # Only main text is stored: no menu, no footer.
    hit = (await kb.search("dërgesa brenda Kosovës kushton"))[0]
    assert hit.item_type == "web"
    assert hit.heading_path == ("Dërgesa", "Brenda Kosovës")
    assert "Menu" not in hit.text and "rezervuara" not in hit.text
    assert await kb.search("menu kryesore rezervuara") == []
    assert (await kb.search("oferta sekrete"))[0].source == served.url + "/only-in-sitemap"


async def test_robots_server_error_skips_the_site(kb: KnowledgeBase) -> None:
    """robots.txt answering 5xx means "disallow all" (RFC 9309): nothing is fetched."""
    requests: list[str] = []

    async def app(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        requests.append(scope["path"])
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_app(app) as served:
        report = await kb.import_site(served.url, limits=LIMITS)
    assert [(r.ok, r.message) for r in report.items] == [
        (False, "robots.txt answered HTTP 503, so the site is skipped")
    ]
    assert requests == ["/robots.txt"]


async def test_cancel_stops_promptly_and_keeps_done_pages(
    kb: KnowledgeBase, site: tuple[Site, ServedApp]
) -> None:
    """Cancelling while a page is in flight ends the crawl at once; stored pages stay."""
    app, served = site
    app.set("/", page('<main><p>Ballina e dyqanit.</p><a href="/slow">S</a></main>'))
    cancel = asyncio.Event()

    async def cancel_when_slow_page_is_requested() -> None:
        await asyncio.to_thread(app.slow_started.wait, 10)
        cancel.set()

    limits = CrawlLimits(timeout_s=25, concurrency=1, follow_sitemaps=False)
    trigger = asyncio.create_task(cancel_when_slow_page_is_requested())
    report = await kb.import_site(served.url, limits=limits, cancel=cancel)
    await trigger
    assert report.cancelled
    results = by_path(report)
    # The in-flight /slow fetch was abandoned, not timed out: it has no result at all.
    assert "/slow" not in results
    assert results["/"] == (True, "imported: 1 chunks")
    assert (await kb.search("ballina"))[0].source == served.url + "/"


async def test_resync_updates_only_changed_pages(
    kb: KnowledgeBase, site: tuple[Site, ServedApp]
) -> None:
    """Re-sync re-chunks changed pages, skips unchanged (304 or same text), drops 404s."""
    app, served = site
    app.set("/dup", b"", status=404)  # so /delivery (which has an ETag) is surely stored
    await kb.import_site(served.url, limits=LIMITS)
    await kb.set_auto_accept(served.url + "/returns", True)  # the whole site, no review
    before = {i.source: i for i in await kb.list_items("web")}
    returns_url, a_url = served.url + "/returns", served.url + "/a"
    app.set("/returns", page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 30 ditëve.</p></main>"))
    app.set("/a", b"", status=404)
    report = await kb.resync_sites(limits=LIMITS)
    results = {r.source: (r.ok, r.message) for r in report.items}
    assert results[returns_url] == (True, "updated: 1 chunks")
    assert results[a_url] == (True, "removed: the page is gone (HTTP 404)")
    unchanged = {s: m for s, (ok, m) in results.items() if s not in (returns_url, a_url)}
    assert set(unchanged.values()) <= {"unchanged", "unchanged (not modified)"}
    assert len(unchanged) == len(before) - 2
    after = {i.source: i for i in await kb.list_items("web")}
    assert a_url not in after
    assert str(after[returns_url].updated_at) > str(before[returns_url].updated_at)
    for source, info in after.items():
        if source != returns_url:
            assert info.updated_at == before[source].updated_at
    assert (await kb.search("kthehet ditëve"))[0].text.endswith("brenda 30 ditëve.")
    assert results[served.url + "/delivery"] == (True, "unchanged (not modified)")  # ETag: 304


async def test_changed_pages_wait_for_review_and_search_keeps_the_old_text(
    tmp_path: Path, site: tuple[Site, ServedApp]
) -> None:
    """A changed page waits (surviving a restart); search answers from the old text until
    the owner accepts; a declined change is not offered again; auto-accept skips review."""
    app, served = site
    returns_url, a_url = served.url + "/returns", served.url + "/a"
    kb = await KnowledgeBase.open(tmp_path / "kb")
    try:
        await kb.import_site(served.url, limits=LIMITS)
        app.set(
            "/returns", page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 30 ditëve.</p></main>")
        )
        app.set("/a", page("<main><h1>A</h1><p>Faqja A flet tani për këmbëzat.</p></main>"))
        report = await kb.resync_sites(limits=LIMITS)
        results = {r.source: r.message for r in report.items}
        assert results[returns_url] == results[a_url] == "changed: waiting for your review"
    finally:
        await kb.close()

    kb = await KnowledgeBase.open(tmp_path / "kb")  # pending changes survive a restart
    try:
        pending = {c.source: c for c in await kb.pending_changes()}
        assert set(pending) == {returns_url, a_url}
        # Both sides as the owner reads them: each section under its heading.
        assert pending[returns_url].old_text == "Kthimet\nMalli kthehet brenda 14 ditëve me faturë."
        assert pending[returns_url].new_text == "Kthimet\nMalli kthehet brenda 30 ditëve."
        assert (await kb.search("kthehet ditëve"))[0].text.endswith("brenda 14 ditëve me faturë.")
        assert await kb.search("këmbëzat") == []

        assert await kb.accept_change(pending[returns_url].item_id)
        assert (await kb.search("kthehet ditëve"))[0].text.endswith("brenda 30 ditëve.")
        assert await kb.reject_change(pending[a_url].item_id)
        assert await kb.pending_changes() == []
        assert await kb.search("këmbëzat") == []

        report = await kb.resync_sites(limits=LIMITS)
        results = {r.source: r.message for r in report.items}
        assert results[returns_url] == "unchanged"
        assert results[a_url] == "unchanged (you declined this change)"
        assert await kb.pending_changes() == []

        await kb.set_auto_accept(a_url, True)
        app.set(
            "/returns", page("<main><h1>Kthimet</h1><p>Malli kthehet brenda 60 ditëve.</p></main>")
        )
        report = await kb.resync_sites(limits=LIMITS)
        results = {r.source: r.message for r in report.items}
        assert results[returns_url] == "updated: 1 chunks"
        assert (await kb.search("kthehet ditëve"))[0].text.endswith("brenda 60 ditëve.")
        assert await kb.pending_changes() == []
    finally:
        await kb.close()
