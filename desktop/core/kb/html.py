"""HTML to main text: boilerplate dropped, headings kept as blocks, links collected."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin

import msgspec
from selectolax.lexbor import LexborHTMLParser, LexborNode

from .chunking import Block

__all__ = ["HtmlPage", "parse_html"]

# Never content: chrome, code and controls.
_ALWAYS_DROP = (
    "script, style, noscript, template, svg, canvas, iframe, object, embed, nav, aside, form, "
    "button, select, textarea, dialog, [hidden], [aria-hidden=true], [role=navigation], "
    "[role=banner], [role=contentinfo], [role=complementary], [role=search]"
)
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "blockquote",
        "body",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "header",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
        "caption",
        "br",
        "td",
        "th",
    ]
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_NOT_PAGES = ("#", "mailto:", "tel:", "javascript:", "data:")
_SPACES = re.compile(r"\s+")
_SKIP_EXTENSIONS = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|ico|bmp|tiff?|mp[34]|avi|mov|webm|zip|rar|7z|gz|tar|exe|dmg"
    r"|css|js|json|woff2?|ttf|eot|pdf|docx?|xlsx?|pptx?)$",
    re.IGNORECASE,
)


class HtmlPage(msgspec.Struct, frozen=True, kw_only=True):
    """Main text as blocks, the page title, and the absolute http(s) links found anywhere."""

    title: str
    blocks: list[Block]
    links: list[str]
    canonical: str | None = None
    noindex: bool = False

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.blocks)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _links(tree: LexborHTMLParser, base_url: str) -> list[str]:
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        base_url = urljoin(base_url, base_node.attributes.get("href") or "")
    found: dict[str, None] = {}
    for a in tree.css("a[href]"):
        rel = (a.attributes.get("rel") or "").lower()
        href = (a.attributes.get("href") or "").strip()
        if (
            not href
            or "nofollow" in rel
            or href.startswith(("#", "mailto:", "tel:", "javascript:"))
        ):
            continue
        url = urldefrag(urljoin(base_url, href))[0]
        if url.startswith(("http://", "https://")) and not _SKIP_EXTENSIONS.search(
            url.split("?", 1)[0]
        ):
            found[url] = None
    return list(found)


def _main_root(tree: LexborHTMLParser) -> tuple[LexborNode | None, bool]:
    """The element holding the page's own content, and whether it is a semantic one."""
    main = tree.css_first("main, [role=main]")
    if main is not None:
        return main, True
    articles = tree.css("article")
    if len(articles) == 1:
        return articles[0], True
    return tree.body, False


def _blocks(root: LexborNode) -> list[Block]:
    blocks: list[Block] = []
    line: list[str] = []

    def flush() -> None:
        text = _clean("".join(line))  # text nodes carry their own spacing
        line.clear()
        if text:
            blocks.append(Block("para", text))

    # Iterative walk (deep markup must not hit the recursion limit): ("enter", node) or
    # ("exit", tag) events; text nodes join the current line, block tags end it.
    stack: list[tuple[str, LexborNode | None, str]] = [("enter", root, "")]
    while stack:
        event, node, tag = stack.pop()
        if event == "exit":
            if tag in _BLOCK_TAGS:
                flush()
            continue
        assert node is not None
        if node.is_text_node:
            line.append(node.text_content or "")
            continue
        tag = node.tag or ""
        if tag in _HEADINGS:
            flush()
            text = _clean(node.text(deep=True))
            if text:
                blocks.append(Block("heading", text, level=_HEADINGS[tag]))
            continue
        if tag == "pre":
            flush()
            text = (node.text(deep=True) or "").strip()
            if text:
                blocks.append(Block("para", text))
            continue
        if tag in _BLOCK_TAGS:
            flush()
        stack.append(("exit", None, tag))
        children = list(node.iter(include_text=True))
        stack.extend(("enter", child, "") for child in reversed(children))
    flush()
    return blocks


def parse_html(html: str, base_url: str = "") -> HtmlPage:
    """Extract what a reader would call the page: prefer ``<main>``/``<article>``, drop chrome."""
    tree = LexborHTMLParser(html)
    links = _links(tree, base_url) if base_url else []
    title_node = tree.css_first("title")
    title = _clean(title_node.text(deep=True)) if title_node is not None else ""
    canonical = None
    link = tree.css_first("link[rel=canonical][href]")
    if link is not None and base_url:
        canonical = urldefrag(urljoin(base_url, link.attributes.get("href") or ""))[0]
    robots = tree.css_first("meta[name=robots][content]")
    noindex = robots is not None and "noindex" in (robots.attributes.get("content") or "").lower()
    root, semantic = _main_root(tree)
    if root is None:
        return HtmlPage(title=title, blocks=[], links=links, canonical=canonical, noindex=noindex)
    # Reverse document order frees descendants before their ancestors.
    for node in reversed(root.css(_ALWAYS_DROP)):
        node.decompose()
    for node in reversed(root.css("header, footer")):
        # A header inside <main>/<article> usually carries the article's own title.
        if not semantic or node.tag == "footer" or node.css_first("h1, h2") is None:
            node.decompose()
    blocks = _blocks(root)
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return HtmlPage(title=title, blocks=blocks, links=links, canonical=canonical, noindex=noindex)
