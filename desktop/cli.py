"""``clientora``: the desktop app, its knowledge base from the shell, and a headless server.

``clientora`` alone opens the app. ``clientora kb ...`` works on the knowledge base;
``clientora login`` signs this computer in to a relay; ``clientora serve --headless``
runs the engine with no window (stream, draft, auto-send) for a shop that wants it on
a server. ``--data DIR`` (or ``$CLIENTORA_HOME``) chooses the data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clientora", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="data folder (default: $CLIENTORA_HOME or the platform's app-data folder)",
    )
    parser.add_argument(
        "--quit", action="store_true", help="ask the running app (of this data folder) to quit"
    )
    parser.add_argument("--background", action="store_true", help="start minimised (as at sign-in)")
    sub = parser.add_subparsers(dest="command")

    kb = sub.add_parser("kb", help="the knowledge base").add_subparsers(
        dest="kb_command", required=True
    )
    faq = kb.add_parser("add-faq", help="add a question and its answer")
    faq.add_argument("question")
    faq.add_argument("answer")
    faq.add_argument("--alt", action="append", default=[], help="another way to ask (repeatable)")
    offer = kb.add_parser("add-offer", help="add an offer")
    offer.add_argument("title")
    offer.add_argument("description")
    offer.add_argument("--price")
    offer.add_argument("--from", dest="valid_from", type=dt.date.fromisoformat)
    offer.add_argument("--until", dest="valid_until", type=dt.date.fromisoformat)
    imp = kb.add_parser("import", help="import documents (PDF, DOCX, TXT, Markdown, HTML)")
    imp.add_argument("files", nargs="+", type=Path)
    site = kb.add_parser("import-site", help="import a website (sitemap and links)")
    site.add_argument("url")
    site.add_argument("--max-pages", type=int, default=200)
    site.add_argument("--max-depth", type=int, default=4)
    listing = kb.add_parser("list", help="list items")
    listing.add_argument("--type", choices=["offer", "faq", "document", "web"])
    remove = kb.add_parser("remove", help="remove an item by id")
    remove.add_argument("item_id")
    ask = kb.add_parser("ask", help="show what would be retrieved and drafted for a question")
    ask.add_argument("question")

    login = sub.add_parser("login", help="sign this computer in to a relay")
    login.add_argument("--relay", required=True, help="relay URL, e.g. https://relay.example.com")
    login.add_argument("--email", required=True)
    login.add_argument("--password-stdin", action="store_true")

    local = sub.add_parser("local", help="set up to run on this computer (built-in relay)")
    local.add_argument("--shop", default="My shop", help="the shop's name")

    autostart = sub.add_parser("autostart", help="start the app when you sign in to the computer")
    autostart.add_argument("state", choices=["on", "off", "status"])
    sub.add_parser("logs", help="print the folder with the app's log and crash reports")

    serve = sub.add_parser("serve", help="run the engine")
    serve.add_argument(
        "--headless",
        action="store_true",
        required=True,
        help="no window: stream, draft and auto-send until stopped",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from desktop.core.paths import default_data_dir

    data_dir: Path = args.data or default_data_dir()
    if args.command is None:
        from desktop.app import run

        flags = [f"--{name}" for name in ("quit", "background") if getattr(args, name)]
        if not args.quit:
            from desktop.core.crashlog import install_crash_log

            install_crash_log(data_dir)
        return run([sys.argv[0], "--data", str(data_dir), *flags])
    if args.command == "autostart":
        return _autostart(args.state)
    if args.command == "logs":
        from desktop.core.paths import log_dir

        print(log_dir(data_dir))
        return 0
    try:
        if args.command == "kb":
            return asyncio.run(_kb(data_dir, args))
        return asyncio.run(_engine_command(data_dir, args))
    except KeyboardInterrupt:
        return 130


def _autostart(state: str) -> int:
    from desktop.core.autostart import Autostart, describe, launch_command

    entry = Autostart(launch_command())
    if state == "on":
        entry.enable()
    elif state == "off":
        entry.disable()
    print(("on: " + describe(entry)) if entry.enabled() else "off")
    return 0


def _report(report: object) -> int:
    from desktop.core.kb import ImportReport

    assert isinstance(report, ImportReport)
    for item in report.items:
        mark = "ok  " if item.ok else "FAIL"
        extra = f" ({item.chunks} chunks)" if item.ok and item.chunks else ""
        print(f"{mark} {item.source}: {item.message}{extra}")
    if report.cancelled:
        print("cancelled")
    return 0 if not report.failed else 1


async def _kb(data_dir: Path, args: argparse.Namespace) -> int:
    from desktop.core.engine import Engine, EngineError

    engine = await Engine.open(data_dir)
    try:
        kb = engine.kb
        command = args.kb_command
        if command == "add-faq":
            print(await kb.add_faq(args.question, args.answer, args.alt))
        elif command == "add-offer":
            print(
                await kb.add_offer(
                    args.title,
                    args.description,
                    price=args.price,
                    valid_from=args.valid_from,
                    valid_until=args.valid_until,
                )
            )
        elif command == "import":
            from desktop.core.kb import ImportReport

            combined = ImportReport()
            for path in args.files:
                combined.items.extend((await kb.import_file(path, progress=_progress)).items)
            return _report(combined)
        elif command == "import-site":
            from desktop.core.kb import CrawlLimits

            limits = CrawlLimits(max_pages=args.max_pages, max_depth=args.max_depth)
            return _report(await kb.import_site(args.url, limits=limits, progress=_progress))
        elif command == "list":
            for item in await kb.list_items(args.type):
                print(f"{item.item_id}\t{item.item_type}\t{item.title}")
        elif command == "remove":
            if not await kb.delete_item(args.item_id):
                print(f"no item {args.item_id}", file=sys.stderr)
                return 1
        elif command == "ask":
            result = await engine.knowledge.ask(args.question)
            for hit in result.hits:
                where = " > ".join(hit.heading_path) or hit.source
                print(
                    f"[{hit.chunk_id}] {hit.item_type}: {hit.title} ({where}) score {hit.score:.3f}"
                )
                print("    " + hit.text[:300].replace("\n", " "))
            draft = result.draft
            print()
            print(
                f"draft ({draft.drafter}, confidence {draft.confidence:.2f}"
                f"{', hand-off: ' + (draft.handoff_reason or '') if draft.handoff else ''}):"
            )
            print(draft.reply)
            if draft.cited_chunk_ids:
                print("cites: " + ", ".join(draft.cited_chunk_ids))
        return 0
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.close()


def _progress(progress: object) -> None:
    from desktop.core.kb import Progress

    assert isinstance(progress, Progress)
    total = f"/{progress.total}" if progress.total is not None else ""
    print(f"  {progress.phase} {progress.done}{total} {progress.current}", file=sys.stderr)


async def _engine_command(data_dir: Path, args: argparse.Namespace) -> int:
    from desktop.core.engine import Engine, EngineError
    from desktop.embedded import EmbeddedRelay

    engine = await Engine.open(
        data_dir, local_relay=lambda folder, port: EmbeddedRelay(folder, port=port)
    )
    try:
        if args.command == "login":
            password = (
                sys.stdin.readline().rstrip("\n")
                if args.password_stdin
                else getpass.getpass("Password: ")
            )
            await engine.session.sign_in(args.relay, args.email, password)
            print(f"signed in to {args.relay}")
            return 0
        if args.command == "local":
            await engine.session.run_locally(args.shop)
            print(f"running on this computer; test channel {engine.channels.test_channel_id}")
            return 0
        if not engine.session.signed_in:
            print(
                "error: not signed in; run `clientora login` or `clientora local` first",
                file=sys.stderr,
            )
            return 1
        await engine.start()
        print(f"serving headless ({engine.session.mode}); press Ctrl+C to stop", file=sys.stderr)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await engine.close()


if __name__ == "__main__":
    sys.exit(main())
