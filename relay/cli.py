"""``clientora-relay``: serve the relay, or run an admin command.

This is the one place the environment is read.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from common.protocol import SignUp
from relay.settings import Settings

__all__ = ["main"]


def _serve(settings: Settings) -> int:
    from relay.serving import WorkersNeedPostgres, serve

    for key in settings.extra:
        print(f"warning: unknown setting {key} ignored", file=sys.stderr)
    try:
        return serve(settings)
    except WorkersNeedPostgres as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _create_business(
    settings: Settings, business: str, name: str, email: str, password: str
) -> str:
    from relay.accounts import create_account
    from relay.app import create_app
    from relay.services import Services

    app = create_app(settings)
    async with app.lifespan():
        services: Services = app.state.services
        user = await create_account(
            services, SignUp(business_name=business, name=name, email=email, password=password)
        )
    return user.business_id


async def _rekey(settings: Settings) -> int:
    from pathlib import Path

    from relay.crypto import load_keyring
    from relay.rekey import rekey
    from relay.store import open_store

    keyring = load_keyring(settings.master_keys, Path(settings.key_file))
    store = await open_store(settings.database_url)
    try:
        counts = await rekey(store, keyring)
    finally:
        await store.close()
    print(
        f"re-encrypted {counts.resealed}, already current {counts.current},"
        f" changed meanwhile {counts.changed}, unreadable {counts.unreadable}"
        f" (key {keyring.current!r})"
    )
    return 1 if counts.unreadable else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="clientora-relay", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="serve HTTP and WebSocket (the default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers", type=int, help="processes sharing the port (more than 1 needs PostgreSQL)"
    )
    create = sub.add_parser("create-business", help="create a business and its first user")
    create.add_argument("--business", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of a prompt",
    )
    sub.add_parser("rekey", help="re-encrypt every stored secret under the current master key")
    replaying = sub.add_parser(
        "replay", help="post saved webhook payloads, signed, to a running relay; print the events"
    )
    replaying.add_argument("files", nargs="+", metavar="FILE", help="a saved webhook body (JSON)")
    replaying.add_argument("--url", help="the running relay (default: CLIENTORA_RELAY_PUBLIC_URL)")
    replaying.add_argument("--viber-channel", help="the channel id Viber callbacks are for")
    args = parser.parse_args(argv)

    overrides = {}
    if args.command == "serve":
        given = (("host", args.host), ("port", args.port), ("workers", args.workers))
        overrides = {k: v for k, v in given if v is not None}
    try:
        settings = Settings.from_env(os.environ, **overrides)
    except ValueError as exc:
        parser.error(str(exc))

    if args.command == "create-business":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password for the new user: ")
        from relay.errors import RelayError

        try:
            business_id = asyncio.run(
                _create_business(settings, args.business, args.name, args.email, password)
            )
        except RelayError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        print(business_id)
        return 0
    if args.command == "rekey":
        return asyncio.run(_rekey(settings))
    if args.command == "replay":
        from pathlib import Path

        from relay.webhooks.replay import ReplayError, replay

        try:
            failed = asyncio.run(
                replay(
                    settings,
                    [Path(name) for name in args.files],
                    args.url or settings.public_url,
                    args.viber_channel,
                )
            )
        except ReplayError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 1 if failed else 0
    return _serve(settings)


if __name__ == "__main__":
    sys.exit(main())
