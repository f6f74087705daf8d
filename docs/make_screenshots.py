"""Regenerate docs/screenshots/: a demo shop on the real engine, one PNG per screen.

Runs the app's real workspace in local mode (built-in relay, test channel), fills a
demo shop (knowledge in Albanian, Serbian and English; conversations on several
channels delivered through the store as the sync delivers them; test customers typing
in the test channel, one answered on its own), and grabs every screen at 1366x768 and
1280x720 (the 13-inch laptops owners use), light and dark, into one folder per size and
look (``1366x768-light/``...); the dialogs once per look.

    python docs/make_screenshots.py            # offscreen (no display needed)
    xvfb-run -s "-screen 0 1366x768x24" python docs/make_screenshots.py --xcb
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOUR = 3_600_000


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--xcb", action="store_true", help="use the X display (under Xvfb)")
    return parser.parse_args()


ARGS = _parse()
os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if ARGS.xcb else "offscreen")

import httpx  # noqa: E402
import msgspec  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from common.channels import Platform  # noqa: E402
from common.events import Attachment, ChannelChanged, Customer, Event, MessageReceived  # noqa: E402
from common.protocol import EventFrame  # noqa: E402
from desktop.core.relay_client import ChannelHealth, HealthCheck, MetaAsset  # noqa: E402
from desktop.ui.main_window import MainWindow  # noqa: E402
from desktop.ui.theme import apply_theme  # noqa: E402
from desktop.ui.widgets.meta_connect import MetaConnectDialog  # noqa: E402
from desktop.ui.widgets.test_chat import FIRST_VISITOR  # noqa: E402

FAQS = (
    (
        "A dërgoni në të gjithë Kosovën?",
        "Po! Dërgojmë kudo në Kosovë për 2 €. Porositë para orës 14:00 arrijnë të nesërmen.",
        ("Sa kushton dërgesa?", "Koliko košta dostava?", "Do you deliver to Prizren?"),
    ),
    (
        "Koje je radno vreme prodavnice?",
        "Radimo od ponedeljka do subote, od 9 do 20 časova. Nedeljom smo zatvoreni.",
        ("Kur jeni të hapur?", "What are your opening hours?"),
    ),
    (
        "Can I return an item?",
        "Yes, within 14 days with the receipt, unworn and with tags. Refunds go back to the"
        " original payment method.",
        ("A mund ta kthej një artikull?", "Mogu li da vratim robu?"),
    ),
    (
        "A keni madhësi më të mëdha?",
        "Po, shumica e modeleve vijnë nga XS deri në XXL.",
        ("Imate li veće veličine?",),
    ),
)
OFFERS = (
    ("Fustan veror liri", "Fustan prej liri, ngjyrat bezhë dhe blu, madhësitë S–XL.", "34.90 €"),
    ("Zimska jakna -30%", "Vodootporna jakna, crna i maslinasta, do kraja meseca.", "59.00 €"),
)
DOCUMENT = """# Çmimet dhe kushtet

## Pagesa
Pranojmë para në dorë gjatë dorëzimit, kartelë dhe transfer bankar.

## Dërgesa
Dërgesa në Prishtinë bëhet brenda ditës për porositë para orës 12:00.
Për qytetet e tjera dërgesa zgjat 1–2 ditë pune.

## Garancia
Këpucët kanë garanci 6 muaj për defekte prodhimi.
"""

CONVERSATIONS: tuple[tuple[str, Platform, str, str, float, tuple[str, ...]], ...] = (
    # channel, platform, customer id, name, hours ago, messages
    (
        "demo-messenger",
        "messenger",
        "psid-1",
        "Arta Krasniqi",
        0.3,
        ("Përshëndetje!", "A e keni fustanin veror në madhësinë M?"),
    ),
    (
        "demo-whatsapp",
        "whatsapp",
        "38344111222",
        "Марко Петровић",
        20.5,
        ("Zdravo, koliko košta dostava do Prizrena?",),
    ),
    (
        "demo-instagram",
        "instagram",
        "igsid-9",
        "Blerina Gashi",
        2.0,
        ("Hi! Do you have this jacket in olive?",),
    ),
    (
        "demo-viber",
        "viber",
        "viber-5",
        "Dragan Jovanović",
        5.5,
        ("Mogu li da vratim patike ako ne odgovaraju?",),
    ),
    (
        "demo-messenger",
        "messenger",
        "psid-2",
        "Liridon Berisha",
        30.0,
        ("Faleminderit, e mora porosinë!",),
    ),
)
CHANNELS: tuple[tuple[str, Platform, str], ...] = (
    ("demo-messenger", "messenger", "Butiku Arta"),
    ("demo-whatsapp", "whatsapp", "+383 44 555 010"),
    ("demo-instagram", "instagram", "@butiku.arta"),
    ("demo-viber", "viber", "Butiku Arta Viber"),
)


def demo_frames(now_ms: int) -> list[EventFrame]:
    """Channel and customer events as the relay would stream them."""
    frames: list[EventFrame] = []
    seq = 1_000_000

    def add(event: Event) -> None:
        nonlocal seq
        seq += 1
        frames.append(EventFrame(seq=seq, id=f"demo-{seq}", stored_at_ms=now_ms, event=event))

    for channel_id, platform, name in CHANNELS:
        add(
            ChannelChanged(
                timestamp_ms=now_ms - 48 * HOUR,
                channel_id=channel_id,
                platform=platform,
                status="connected",
                name=name,
            )
        )
    # One channel lost its access, so the channels screen shows the fix.
    add(
        ChannelChanged(
            timestamp_ms=now_ms - HOUR,
            channel_id="demo-instagram",
            platform="instagram",
            status="needs_reconnect",
            name="@butiku.arta",
        )
    )
    for n, (channel_id, platform, cid, name, ago, texts) in enumerate(CONVERSATIONS):
        at = now_ms - int(ago * HOUR)
        for i, text in enumerate(texts):
            attachments = (
                (
                    Attachment(
                        type="image",
                        url="https://example.com/jacket.jpg",
                        filename="jacket-olive.jpg",
                    ),
                )
                if platform == "instagram"
                else ()
            )
            add(
                MessageReceived(
                    channel_id=channel_id,
                    platform=platform,
                    customer=Customer(id=cid, name=name),
                    timestamp_ms=at + i * 20_000,
                    platform_id=f"demo-mid-{n}-{i}",
                    text=text,
                    attachments=attachments,
                )
            )
    return frames


def demo_health(now_ms: int) -> list[ChannelHealth]:
    """What the relay would say about each demo channel's health."""
    ok_token = HealthCheck(name="token", state="ok", message="Facebook accepts the token.")
    ok_hooks = HealthCheck(
        name="subscription", state="ok", message="The Page sends its messages here."
    )

    def activity(event_h: float, send_h: float | None) -> list[HealthCheck]:
        lines = [
            HealthCheck(
                name="events",
                state="ok",
                message="Last event.",
                checked_at_ms=now_ms - int(event_h * HOUR),
            )
        ]
        if send_h is not None:
            lines.append(
                HealthCheck(
                    name="sends",
                    state="ok",
                    message="Last reply.",
                    checked_at_ms=now_ms - int(send_h * HOUR),
                )
            )
        return lines

    refused = HealthCheck(
        name="token",
        state="problem",
        message="Instagram no longer accepts this channel's access (the account's password"
        " was changed). Reconnect it.",
        action="reconnect",
    )
    rows: list[tuple[str, Platform, str, str, list[HealthCheck], list[str]]] = [
        ("demo-messenger", "messenger", "Butiku Arta", "connected",
         [ok_token, ok_hooks, *activity(0.3, 0.2)], []),
        ("demo-whatsapp", "whatsapp", "+383 44 555 010", "connected",
         [ok_token, ok_hooks, *activity(20.5, None)], []),
        ("demo-instagram", "instagram", "@butiku.arta", "needs_reconnect",
         [refused, *activity(2.0, None)], ["reconnect"]),
        ("demo-viber", "viber", "Butiku Arta Viber", "connected",
         [HealthCheck(name="token", state="ok", message="Viber accepts the bot token."),
          HealthCheck(name="webhook", state="ok", message="Viber accepted the webhook."),
          *activity(5.5, 5.0)], []),
    ]  # fmt: skip
    return [
        ChannelHealth(
            channel_id=cid,
            platform=platform,
            name=name,
            status=status,
            checks=checks,
            actions=actions,
        )
        for cid, platform, name, status, checks, actions in rows
    ]


DEMO_ASSETS = (
    MetaAsset(
        id="messenger:104832",
        platform="messenger",
        external_id="104832",
        name="Butiku Arta",
        connected=True,
    ),
    MetaAsset(
        id="messenger:555001",
        platform="messenger",
        external_id="555001",
        name="Butiku Arta – Prizren",
    ),
    MetaAsset(
        id="instagram:17841401234",
        platform="instagram",
        external_id="17841401234",
        name="Butiku Arta",
        detail="@butiku.arta",
        connected=True,
    ),
    MetaAsset(
        id="whatsapp:1065403522",
        platform="whatsapp",
        external_id="1065403522",
        name="Butiku Arta",
        detail="+383 44 555 010",
        connected=True,
    ),
)


async def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected state")
        await asyncio.sleep(0.05)


def save(widget: QWidget, out: Path, name: str) -> None:
    QApplication.processEvents()
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


SITE = "https://butiku-arta.com"
SITE_PAGES = {
    "/": "<h1>Mirë se vini</h1><p>Rroba dhe këpucë në Prishtinë që nga viti 2012.</p>"
    '<a href="/dergesa">Dërgesa</a> <a href="/kthimet">Kthimet</a> <a href="/dyqani">Dyqani</a>',
    "/dergesa": "<h1>Dërgesa</h1><p>Dërgojmë kudo në Kosovë për 2 €, falas mbi 50 €.</p>",
    "/kthimet": "<h1>Kthimet</h1><p>Malli kthehet brenda 14 ditëve me kupon fiskal.</p>",
    "/dyqani": "<h1>Dyqani</h1><p>Rruga Agim Ramadani 12, Prishtinë. Hapur 9-20.</p>",
}


def site_client(pages: dict[str, str]) -> httpx.AsyncClient:
    """The shop's website, served to the crawler in memory (the docs need no network)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = pages.get(request.url.path)
        if body is None:
            return httpx.Response(404)
        heading = body.partition("<h1>")[2].partition("</h1>")[0]
        head = f"<head><title>{heading} · Butiku Arta</title></head>"
        html = f"<html>{head}<body><main>{body}</main></body></html>"
        return httpx.Response(200, html=html)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


SIZES = ((1366, 768), (1280, 720))
LOOKS = ("light", "dark")


def folder(out: Path, size: tuple[int, int], look: str) -> Path:
    path = out / f"{size[0]}x{size[1]}-{look}"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


async def shoot(app: QApplication, out: Path, data: Path) -> None:
    # The engine's libraries load here, after Qt has set the platform chosen above.
    from desktop.core.autopilot import ChannelPolicy  # noqa: PLC0415
    from desktop.core.settings import AppSettings  # noqa: PLC0415
    from desktop.ui.screens.lists import ListScreen  # noqa: PLC0415
    from desktop.ui.widgets.webchat_share import WebChatDialog  # noqa: PLC0415
    from desktop.ui.workspace import Workspace, open_engine  # noqa: PLC0415

    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    settings = QSettings(str(data / "window.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.setMinimumSize(0, 0)
    window.resize(*SIZES[0])
    window.show()
    engine = await open_engine(data / "shop")
    prefs = engine.preferences
    await prefs.update(
        msgspec.structs.replace(
            prefs.settings, relay=msgspec.structs.replace(prefs.settings.relay, embedded_port=0)
        )
    )
    workspace = Workspace(engine, window, settings)
    await workspace.enter()
    first = workspace.first_run
    first.shop.setText("Butiku Arta")
    for look in LOOKS:
        apply_theme(app, look)
        for size in SIZES:
            window.resize(*size)
            await settle()
            save(window, folder(out, size, look), "01-first-run")
    apply_theme(app, "light")
    window.resize(*SIZES[0])

    first.local_button.click()
    await wait_until(lambda: window.current_screen is not None, 60)
    settings_now: AppSettings = prefs.settings
    await prefs.update(
        msgspec.structs.replace(
            settings_now,
            settle_s=0.3,
            hours=msgspec.structs.replace(settings_now.hours, spec="Mon-Sat 9-20"),
            profile=msgspec.structs.replace(
                settings_now.profile, hours="Mon-Sat 9-20", name="Butiku Arta"
            ),
        )
    )
    kb = engine.kb
    for question, answer, alternatives in FAQS:
        await kb.add_faq(question, answer, alternatives)
    for title, description, price in OFFERS:
        await kb.add_offer(title, description, price=price)
    doc = data / "cmimet-dhe-kushtet.md"
    doc.write_text(DOCUMENT, encoding="utf-8")
    await kb.import_file(doc)
    # The shop's website, read once; then its returns page changes and waits for review.
    pages = dict(SITE_PAGES)
    http = site_client(pages)
    await kb.import_site(SITE + "/", http=http)
    pages["/kthimet"] = (
        "<h1>Kthimet</h1><p>Malli kthehet brenda 30 ditëve me kupon fiskal."
        " Këpucët e veshura nuk kthehen.</p>"
    )
    await kb.resync_sites(http=http)
    await http.aclose()
    workspace.knowledge.reload()

    now = time.time_ns() // 1_000_000
    await engine.store.apply_events(demo_frames(now))
    channels = engine.channels
    test_channel = channels.test_channel_id
    # One test customer is answered on its own (auto mode), one waits for approval.
    if test_channel is not None:
        await channels.set_policy(test_channel, ChannelPolicy(mode="auto"))
    await channels.simulate_customer(
        "Sa kushton dërgesa në Prizren?", customer="Test customer", visitor=FIRST_VISITOR
    )
    await wait_until(lambda: window.count("approvals") >= 4, 60)
    if test_channel is not None:
        await channels.set_policy(test_channel, ChannelPolicy(mode="manual"))
    await channels.simulate_customer(
        "A e keni fustanin veror në madhësinë L?", customer="Drita (test)", visitor="demo-visitor-2"
    )
    await wait_until(lambda: window.count("approvals") >= 5, 60)
    await settle(0.5)
    for health in demo_health(now):
        workspace.channels_screen.set_health(health, now)

    async def open_first(screen: ListScreen) -> None:
        # A list reloads on its own timer: select again until the pane shows the row.
        for _ in range(40):
            screen.select_row(0)
            await settle(0.25)
            if screen.pane.conversation is not None:
                break
        await settle(0.4)

    async def screens(target: Path) -> None:
        started = time.monotonic()
        window.show_screen("inbox")
        await settle()
        inbox = workspace.inbox
        row = next(
            (
                i
                for i in range(inbox.proxy.rowCount())
                if (c := inbox.proxy.conversation(i)) and c.customer.name == "Arta Krasniqi"
            ),
            0,
        )
        workspace.inbox_screen.select_row(row)
        await wait_until(workspace.inbox_screen.pane.draft_panel.isVisible, 20)
        await settle(0.4)
        save(window, target, "02-inbox")
        window.show_screen("approvals")
        await settle(0.2)
        await open_first(workspace.approvals_screen)
        save(window, target, "03-approvals")
        window.show_screen("expiring")
        await settle(0.2)
        await open_first(workspace.expiring_screen)
        save(window, target, "04-expiring-soon")
        window.show_screen("knowledge")
        workspace.knowledge_screen.show_type("faq")
        workspace.knowledge_screen.question.setText("Sa kushton dërgesa në Pejë?")
        workspace.knowledge_screen.ask_button.click()
        await wait_until(workspace.knowledge_screen.answer.isVisible, 20)
        await settle()
        save(window, target, "05-knowledge")
        workspace.knowledge_screen.show_type("web")
        await settle()
        save(window, target, "05b-knowledge-websites")
        workspace.knowledge_screen.show_type("faq")
        window.show_screen("channels")
        await settle(0.5)
        save(window, target, "07-channels")
        window.show_screen("usage")
        workspace.usage.reload()
        await wait_until(lambda: workspace.usage_screen.conversations.value.text() != "–", 20)
        await settle(0.8)
        save(window, target, "09-usage")
        window.show_screen("settings")
        await settle()
        save(window, target, "10-settings")
        print(f"  {target.name}: {time.monotonic() - started:.1f} s")

    async def dialogs(target: Path) -> None:
        dialog = workspace.knowledge.open_faq(None)
        dialog.question.setText("A keni parking?")
        dialog.validate()
        await settle(0.2)
        save(dialog, target, "06-knowledge-faq-form")
        dialog.reject()
        # The picker as it looks after signing in with Facebook (the built-in relay has
        # no Meta app, so the dialog gets what such a relay would list).
        picker = MetaConnectDialog(window)
        picker.set_assets(
            DEMO_ASSETS,
            ["1 Page was left out: your role there cannot send messages."],
            preselect=lambda asset: asset.id in ("messenger:555001", "instagram:17841401234"),
        )
        picker.show()
        await settle()
        save(picker, target, "08b-connect-with-facebook")
        picker.reject()
        connect = workspace.channels.open_connect()
        connect.set_platform("whatsapp")
        connect.field("phone_number_id").setText("10654")
        connect.validate()
        await settle(0.2)
        save(connect, target, "08-connect-channel")
        connect.reject()
        window.show_screen("inbox")
        chat = workspace.inbox.open_test_chat()
        await wait_until(lambda: bool(chat.chips), 20)
        await settle(0.3)
        save(chat, target, "11-test-chat")
        chat.hide()
        review = workspace.knowledge.open_review()
        await settle(0.3)
        save(review, target, "12-website-changes")
        review.reject()
        document = next(i for i in await kb.list_items("document"))
        edit = workspace.knowledge.open_document(document)
        await settle(0.2)
        save(edit, target, "13-edit-document")
        edit.reject()
        share = WebChatDialog(channels.relay_url, "demo-webchat", window)
        share.show()
        await settle()
        save(share, target, "14-webchat-share")
        share.reject()

    for look in LOOKS:
        apply_theme(app, look)
        for size in SIZES:
            window.resize(*size)
            await settle(0.5)
            await screens(folder(out, size, look))
        await dialogs(folder(out, SIZES[0], look))
    apply_theme(app, "light")
    await workspace.close()


def main() -> int:
    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    with (
        tempfile.TemporaryDirectory(prefix="clientora-shots-") as tmp,
        asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner,
    ):
        runner.run(shoot(app, ARGS.out, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
