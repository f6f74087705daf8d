"""Polite website fetching: robots.txt, sitemaps, same-site breadth-first crawl within limits."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import zlib
from collections.abc import Awaitable, Callable
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx
import msgspec

from .cancel import finished_before_cancel
from .html import HtmlPage, parse_html
from .models import CrawlLimits, ImportPhase, ImportResult, Progress

__all__ = ["FetchError", "Fetched", "Fetcher", "crawl", "normalize_url", "same_site"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_LOC = re.compile(rb"<loc>\s*(?:<!\[CDATA\[)?\s*([^<\]\s]+)", re.IGNORECASE)
MAX_SITEMAPS = 20
log = logging.getLogger(__name__)


class FetchError(Exception):
    """One URL could not be used; the message says why in the owner's terms."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Fetched(msgspec.Struct, kw_only=True):
    """A fetched page (``page`` is None when the server answered 304 Not Modified)."""

    url: str
    page: HtmlPage | None
    etag: str = ""
    last_modified: str = ""


def normalize_url(url: str) -> str:
    """One spelling per page: lower-case scheme and host, no default port, no fragment."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else f"{host}:{port}"
    )
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _site(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}:{parts.port or ''}"


def same_site(a: str, b: str) -> bool:
    """Same host (``www.`` ignored) and port; http and https count as one site."""
    return _site(a) == _site(b)


class Fetcher:
    """GETs with the crawl's limits: timeout, redirect cap, body cap, robots.txt."""

    def __init__(self, client: httpx.AsyncClient, limits: CrawlLimits) -> None:
        self.client = client
        self.limits = limits
        self.robots: RobotFileParser | None = None
        self.robots_problem = ""

    async def load_robots(self, origin_url: str) -> list[str]:
        """Read robots.txt (RFC 9309: 4xx means allow all; 5xx or unreachable, disallow all).

        Returns the sitemap URLs it names.
        """
        parser = RobotFileParser()
        robots_url = urljoin(origin_url, "/robots.txt")
        try:
            status, _, body, _ = await self._get(robots_url, accept_any=True)
        except FetchError as exc:
            self.robots_problem = f"robots.txt could not be read ({exc}), so the site is skipped"
            parser.parse(["User-agent: *", "Disallow: /"])
            self.robots = parser
            return []
        if status >= 500:
            self.robots_problem = f"robots.txt answered HTTP {status}, so the site is skipped"
            parser.parse(["User-agent: *", "Disallow: /"])
        elif status >= 400:
            parser.parse([])
        else:
            parser.parse(body.decode("utf-8", errors="replace").splitlines())
        parser.modified()
        self.robots = parser
        return list(parser.site_maps() or [])

    def allowed(self, url: str) -> bool:
        return self.robots is None or self.robots.can_fetch(self.limits.user_agent, url)

    async def _get(
        self, url: str, *, accept_any: bool = False, headers: dict[str, str] | None = None
    ) -> tuple[int, str, bytes, httpx.Headers]:
        """Follow redirects by hand (each hop checked), read at most ``max_bytes``."""
        limits = self.limits
        for _ in range(limits.max_redirects + 1):
            request = self.client.build_request(
                "GET",
                url,
                headers={"User-Agent": limits.user_agent, **(headers or {})},
                timeout=limits.timeout_s,
            )
            try:
                async with asyncio.timeout(limits.timeout_s):
                    response = await self.client.send(request, stream=True, follow_redirects=False)
                    try:
                        if response.status_code in _REDIRECTS and "location" in response.headers:
                            target = normalize_url(urljoin(url, response.headers["location"]))
                            if not same_site(target, url):
                                raise FetchError(f"redirects to another site ({target})")
                            if not self.allowed(target):
                                raise FetchError(f"redirects to {target}, blocked by robots.txt")
                            url = target
                            continue
                        body = await self._read(response, accept_any=accept_any)
                        return response.status_code, url, body, response.headers
                    finally:
                        await response.aclose()
            except TimeoutError as exc:
                raise FetchError(f"timed out after {limits.timeout_s:g} s") from exc
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out after {limits.timeout_s:g} s") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"could not connect ({type(exc).__name__})") from exc
        raise FetchError(f"more than {limits.max_redirects} redirects (a redirect loop?)")

    async def _read(self, response: httpx.Response, *, accept_any: bool) -> bytes:
        limit = self.limits.max_bytes
        if response.status_code >= 400 or response.status_code == 304:
            return b""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not accept_any and kind and kind not in _HTML_TYPES:
            raise FetchError(f"skipped: not an HTML page ({kind})")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"skipped: page too large ({int(declared):,} bytes; limit {limit:,})")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(f"skipped: page too large (over {limit:,} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def page(self, url: str, *, etag: str = "", last_modified: str = "") -> Fetched:
        """Fetch and parse one HTML page; a conditional GET when validators are given."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        status, final_url, body, response_headers = await self._get(url, headers=headers)
        validators = {
            "etag": response_headers.get("etag", ""),
            "last_modified": response_headers.get("last-modified", ""),
        }
        if status == 304:
            return Fetched(url=final_url, page=None, **validators)
        if status >= 400:
            raise FetchError(f"HTTP {status}", status=status)
        if not body.strip():
            raise FetchError("empty page")
        text = _decode(body, response_headers.get("content-type", ""))
        page = await asyncio.to_thread(parse_html, text, final_url)
        return Fetched(url=final_url, page=page, **validators)

    async def sitemap_urls(self, sitemaps: list[str], limit: int) -> list[str]:
        """Page URLs from sitemaps, following sitemap indexes (gzip accepted), up to ``limit``."""
        pending = list(dict.fromkeys(sitemaps))
        pages: list[str] = []
        fetched = 0
        while pending and fetched < MAX_SITEMAPS and len(pages) < limit:
            url = pending.pop(0)
            fetched += 1
            try:
                status, _, body, _ = await self._get(url, accept_any=True)
            except FetchError:
                continue
            if status >= 400:
                continue
            if body[:2] == b"\x1f\x8b":
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = decompressor.decompress(body, self.limits.max_bytes * 4)
            locs = [m.decode("utf-8", errors="replace") for m in _LOC.findall(body)]
            if b"<sitemapindex" in body[:2000].lower():
                pending.extend(u for u in locs if u not in pending)
            else:
                pages.extend(locs[: limit - len(pages)])
        return pages


def _decode(body: bytes, content_type: str) -> str:
    name = "utf-8"
    header = re.search(r"charset=([\w-]+)", content_type, re.IGNORECASE)
    meta = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", body[:4096], re.IGNORECASE)
    if header is not None:
        name = header.group(1)
    elif meta is not None:
        name = meta.group(1).decode("ascii", errors="replace")
    try:
        return body.decode(name)
    except (LookupError, UnicodeDecodeError):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body.decode("cp1250", errors="replace")


PageHandler = Callable[[str, Fetched], Awaitable[ImportResult]]


async def crawl(
    start_url: str,
    *,
    client: httpx.AsyncClient,
    limits: CrawlLimits,
    on_page: PageHandler,
    progress: Callable[[Progress], None] | None = None,
    cancel: asyncio.Event | None = None,
) -> tuple[list[ImportResult], bool]:
    """Breadth-first over same-site links and sitemap entries; ``on_page`` stores each page.

    Returns the per-URL results and whether ``cancel`` stopped the crawl. Fetches in flight
    are abandoned on cancel; a page already being stored is finished.
    """
    fetcher = Fetcher(client, limits)
    start = normalize_url(start_url)
    results: list[ImportResult] = []

    def report(phase: ImportPhase, current: str, total: int | None) -> None:
        if progress is not None:
            progress(Progress(done=len(results), total=total, current=current, phase=phase))

    report("robots", start, None)
    sitemaps = await fetcher.load_robots(start)
    if fetcher.robots_problem:
        return [ImportResult(source=start, ok=False, message=fetcher.robots_problem)], False
    seeds = [start]
    if limits.follow_sitemaps:
        report("sitemap", start, None)
        sitemaps = [u for u in sitemaps if same_site(u, start)] or [urljoin(start, "/sitemap.xml")]
        seeds += await fetcher.sitemap_urls(sitemaps, limits.max_pages * 4)
    queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
    seen: set[str] = set()
    counter = itertools.count()
    scheduled = 0
    cancelled = False

    def enqueue(url: str, depth: int) -> None:
        nonlocal scheduled
        url = normalize_url(url)
        if url in seen or depth > limits.max_depth or not same_site(url, start):
            return
        if not url.startswith(("http://", "https://")) or scheduled >= limits.max_pages:
            return
        seen.add(url)
        scheduled += 1
        queue.put_nowait((depth, next(counter), url))

    for seed in seeds:
        enqueue(seed, 0)

    async def visit(url: str, depth: int) -> None:
        nonlocal cancelled
        if not fetcher.allowed(url):
            results.append(ImportResult(source=url, ok=False, message="blocked by robots.txt"))
            return
        task = asyncio.ensure_future(fetcher.page(url))
        if not await finished_before_cancel(task, cancel):
            cancelled = True
            return
        try:
            fetched = task.result()
        except FetchError as exc:
            results.append(ImportResult(source=url, ok=False, message=str(exc)))
            return
        if fetched.page is not None:
            for link in fetched.page.links:
                enqueue(link, depth + 1)
            if fetched.page.canonical:
                enqueue(fetched.page.canonical, depth)
        results.append(await on_page(url, fetched))

    async def worker() -> None:
        while True:
            depth, _, url = await queue.get()
            try:
                if not (cancel is not None and cancel.is_set()):
                    report("crawl", url, scheduled)
                    await visit(url, depth)
            except Exception as exc:  # one bad page must not stop the crawl
                log.exception("crawling %s failed", url)
                results.append(ImportResult(source=url, ok=False, message=f"failed: {exc}"))
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(max(1, limits.concurrency))]
    try:
        await queue.join()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    cancelled = cancelled or (cancel is not None and cancel.is_set())
    report("done", start, scheduled)
    return results, cancelled
