"""Public pages a Meta app review asks for: privacy policy, data deletion, request status.

Filled from the operator's settings into the templates in ``resources/pages``; every
value is HTML-escaped. The status page of a deletion request shows what was done and
when, never whom it was about.
"""

from __future__ import annotations

import functools
import html
import re
import urllib.parse
from importlib import resources
from string import Template

from litestar import MediaType, Response, Router, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from relay.erasure import device_statuses, iso_time
from relay.services import Services
from relay.settings import Settings

__all__ = ["PAGE_HEADERS", "pages_router", "render"]

_CODE = re.compile(r"^[A-Za-z0-9]{1,64}$")


@functools.cache
def _template(name: str) -> Template:
    text = resources.files("resources").joinpath("pages", name).read_text(encoding="utf-8")
    return Template(text)


def render(title: str, template: str, **values: str) -> str:
    """A whole page: ``template`` filled with ``values`` (already HTML) inside the layout."""
    body = _template(template).substitute(values)
    return _template("layout.html").substitute(title=html.escape(title), body=body)


def _operator(settings: Settings) -> str:
    return html.escape(settings.operator_name.strip() or "the operator of this service")


def _contact(settings: Settings) -> str:
    lines: list[str] = []
    if settings.operator_name.strip():
        lines.append(html.escape(settings.operator_name.strip()))
    lines.extend(html.escape(line.strip()) for line in settings.operator_address.splitlines())
    email = settings.operator_email.strip()
    if email:
        href = html.escape("mailto:" + urllib.parse.quote(email, safe="@.+-_"))
        lines.append(f'<a href="{href}">{html.escape(email)}</a>')
    if not lines:
        return "<p>Contact the shop you wrote to; it can reach the operator of this service.</p>"
    return "<address>" + "<br>\n".join(line for line in lines if line) + "</address>"


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not parts:
        return ""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in parts)
    return f"<h2>More about your privacy</h2>\n{body}"


#: The pages are static text with one inline style sheet: nothing else may load or run,
#: and browsers must not guess another type for them.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self';"
        " frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _html(text: str, status: int = 200) -> Response[str]:
    return Response(text, status_code=status, media_type=MediaType.HTML, headers=PAGE_HEADERS)


@get("/privacy", include_in_schema=False)
async def privacy(services: NamedDependency[Services]) -> Response[str]:
    settings = services.settings
    page = render(
        "Privacy policy",
        "privacy.html",
        operator=_operator(settings),
        public_url=html.escape(settings.public_url.rstrip("/")),
        contact=_contact(settings),
        retention_days=str(settings.retention_days),
        unacked_days=str(settings.unacked_max_days),
        dedupe_days=str(max(1, round(settings.dedupe_ttl_s / 86_400))),
        extra=_paragraphs(settings.privacy_extra),
    )
    return _html(page)


@get("/data-deletion", include_in_schema=False)
async def data_deletion(services: NamedDependency[Services]) -> Response[str]:
    settings = services.settings
    page = render(
        "Deleting your data",
        "data-deletion.html",
        operator=_operator(settings),
        contact=_contact(settings),
    )
    return _html(page)


async def _status_page(services: Services, code: str) -> Response[str]:
    row = await services.store.deletion_request(code) if _CODE.match(code) else None
    if row is None:
        return _html(render("No such deletion request", "not-found.html"), 404)
    expected = confirmed = 0
    for erasure in await services.store.erasures_for_request(code):
        statuses = await device_statuses(services, erasure)
        expected += len(statuses)
        confirmed += sum(1 for s in statuses if s["status"] == "confirmed")
    if row.channels == 0:
        summary = (
            "The relay held no messages or other data under the id Facebook sent with this"
            " request, so there was nothing to erase here."
        )
    else:
        summary = (
            f"The relay erased {row.events} stored messages and events from"
            f" {row.channels} conversation{'s' if row.channels != 1 else ''} and told the"
            f" shops' computers to erase their copies: {confirmed} of {expected} have"
            " confirmed so far."
        )
    page = render(
        "Data deletion request",
        "deletion-status.html",
        code=html.escape(code),
        received=html.escape(
            iso_time(row.received_at_ms).replace("T", " at ").replace("Z", " UTC")
        ),
        received_iso=html.escape(iso_time(row.received_at_ms)),
        status="Completed at the relay",
        summary=html.escape(summary),
    )
    return _html(page)


@get("/deletion/{code:str}", include_in_schema=False)
async def deletion_status(
    code: FromPath[str], services: NamedDependency[Services]
) -> Response[str]:
    """The status page Meta's callback answer points to."""
    return await _status_page(services, code)


@get("/deletion", include_in_schema=False)
async def deletion_lookup(
    services: NamedDependency[Services], code: FromQuery[str] = ""
) -> Response[str]:
    """The same page, for the form on ``/data-deletion``."""
    return await _status_page(services, code.strip())


def pages_router() -> Router:
    return Router("/", route_handlers=[privacy, data_deletion, deletion_status, deletion_lookup])
