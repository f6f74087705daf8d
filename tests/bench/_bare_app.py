"""A bare Litestar endpoint served exactly as the relay is: the ingest benchmark's baseline."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from litestar import Litestar, MediaType, get, post


@post("/webhooks/meta", status_code=200, media_type=MediaType.TEXT)
async def accept() -> str:
    """Answer as the relay does, without reading, checking or storing anything."""
    return "EVENT_RECEIVED"


@get("/healthz", media_type=MediaType.TEXT)
async def healthz() -> str:
    return "ok"


app = Litestar(route_handlers=[accept, healthz], request_max_body_size=1024 * 1024, debug=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # The same options as relay/cli.py's serve, so the ratio compares like with like.
    uvicorn.run(
        app,
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
