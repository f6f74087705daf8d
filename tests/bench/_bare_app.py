"""The ingest benchmark's baselines, served exactly as the relay is (same uvicorn options).

``--kind litestar``: a plain Litestar handler that reads the body and answers 200, as the
relay's webhook does, without checking or storing anything. ``--kind asgi``: a raw ASGI
app that does the same with no framework at all (the relay's Meta route is itself a raw
ASGI handler, so this is its like-for-like ceiling).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from litestar import Litestar, MediaType, Request, get, post

from tests.fakes.asgi import Receive, Scope, Send, http_body

_ANSWER = b"EVENT_RECEIVED"
_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"14")]


@post("/webhooks/meta", status_code=200, media_type=MediaType.TEXT)
async def accept(request: Request[Any, Any, Any]) -> str:
    """Read the body and answer as the relay does."""
    await request.body()
    return "EVENT_RECEIVED"


@get("/healthz", media_type=MediaType.TEXT)
async def healthz() -> str:
    return "ok"


litestar_app = Litestar(
    route_handlers=[accept, healthz], request_max_body_size=1024 * 1024, debug=False
)


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body of any request and answer 200."""
    if await http_body(scope, receive, send) is None:
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _ANSWER})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=["litestar", "asgi"], default="litestar")
    args = parser.parse_args(argv)
    # The same options as relay/cli.py's serve, so the ratio compares like with like.
    uvicorn.run(
        litestar_app if args.kind == "litestar" else asgi_app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
