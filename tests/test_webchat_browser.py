"""The web chat in real headless Chromium: a visitor types, the shop answers, the page shows it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import websockets

from common.events import MessageReceived
from desktop.core.autopilot import ChannelPolicy
from desktop.core.credentials import EncryptedFileCredentials, SavedSession
from desktop.core.engine import Engine
from desktop.core.settings import RelaySettings
from tests.engine_helpers import now_ms, wait_for
from tests.fakes.server import ServedApp, serve_app
from tests.relay_helpers import Account, open_stream, sign_up

# The documentation's pictures are refreshed only on request (CLIENTORA_SCREENSHOTS=1),
# so a test run leaves the checkout clean.
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
REFRESH_SCREENSHOTS = os.environ.get("CLIENTORA_SCREENSHOTS") == "1"
PHONE = (360, 740)
#: Flags for a quiet, reproducible browser that reaches nothing but the test's servers.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


def _chromium() -> str | None:
    wanted = os.environ.get("CLIENTORA_CHROMIUM")
    if wanted:
        return wanted
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; skipped without one, except in CI, where it must be there."""
    path = _chromium()
    if path is None:
        reason = "no Chromium installed (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test, but there is {reason}")
        pytest.skip(reason)
    return path


# ---- a small DevTools-protocol driver ---------------------------------------------------------


class CdpError(Exception):
    pass


class Tab:
    """One page of the browser, driven by DevTools commands sent on its session."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self.browser = browser
        self.session_id = session_id

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    async def evaluate(self, expression: str, context_id: int | None = None) -> Any:
        params: dict[str, Any] = {
            "expression": expression,
            "returnByValue": True,
            "awaitPromise": True,
        }
        if context_id is not None:
            params["contextId"] = context_id
        result = await self.send("Runtime.evaluate", params)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(
        self, expression: str, timeout: float = 15, context_id: int | None = None
    ) -> None:
        """Poll ``expression`` until it is truthy (the page updates on its own schedule)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if await self.evaluate(f"!!({expression})", context_id) is True:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def goto(self, url: str) -> None:
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"{url}: {result['errorText']}")
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
        )

    async def reload(self) -> None:
        await self.evaluate("window.__beforeReload = true")
        await self.send("Page.reload", {"ignoreCache": True})
        await self.wait_for("!window.__beforeReload && document.readyState === 'complete'")

    async def key(self, key: str, code: str, key_code: int, text: str = "") -> None:
        down: dict[str, Any] = {
            "type": "keyDown" if text else "rawKeyDown",
            "key": key,
            "code": code,
            "windowsVirtualKeyCode": key_code,
        }
        if text:
            down["text"] = text
        await self.send("Input.dispatchKeyEvent", down)
        await self.send(
            "Input.dispatchKeyEvent",
            {"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": key_code},
        )

    async def press_tab(self) -> None:
        await self.key("Tab", "Tab", 9)

    async def press_enter(self) -> None:
        await self.key("Enter", "Enter", 13, "\r")

    async def type_text(self, text: str) -> None:
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        assert base64.b64decode(shot["data"]).startswith(b"\x89PNG")
        if REFRESH_SCREENSHOTS:
            await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))

    async def frame_context(self, url_prefix: str) -> int:
        """An isolated script context in the child frame whose URL starts with ``url_prefix``."""
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            tree = await self.send("Page.getFrameTree")
            for child in tree["frameTree"].get("childFrames", []):
                frame = child["frame"]
                if frame["url"].startswith(url_prefix):
                    world = await self.send(
                        "Page.createIsolatedWorld", {"frameId": frame["id"], "worldName": "test"}
                    )
                    context: int = world["executionContextId"]
                    return context
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no frame at {url_prefix}")
            await asyncio.sleep(0.05)


class Browser:
    """Headless Chromium with its DevTools websocket: commands by id, answers matched back."""

    def __init__(self, process: asyncio.subprocess.Process, ws: websockets.ClientConnection):
        self.process = process
        self.ws = ws
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @asynccontextmanager
    async def launch(cls, executable: str, profile: Path) -> AsyncIterator[Browser]:
        process = await asyncio.create_subprocess_exec(
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        log: list[str] = []
        drain: asyncio.Task[None] | None = None
        try:
            url = await asyncio.wait_for(_devtools_url(process.stderr, log), 30)
            # Keep reading its log, or Chromium blocks once the pipe is full.
            drain = asyncio.create_task(_drain(process.stderr, log))
            async with websockets.connect(url, max_size=None, compression=None) as ws:
                browser = cls(process, ws)
                try:
                    yield browser
                finally:
                    with suppress(Exception):
                        await asyncio.wait_for(browser.send("Browser.close"), 5)
                    browser._reader.cancel()
                    with suppress(asyncio.CancelledError):
                        await browser._reader
        finally:
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            if drain is not None:
                await drain

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)
            if future is None or future.done():
                continue  # an event: this driver polls instead of subscribing
            if "error" in message:
                future.set_exception(CdpError(str(message["error"])))
            else:
                future.set_result(message.get("result", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, 30)

    async def new_tab(
        self,
        viewport: tuple[int, int] | None = None,
        languages: str = "en-US,en",
        dark: bool = False,
    ) -> Tab:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        tab = Tab(self, attached["sessionId"])
        await tab.send("Page.enable")
        await tab.send("Runtime.enable")
        agent = (await self.send("Browser.getVersion"))["userAgent"]
        await tab.send(
            "Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": languages}
        )
        if viewport is not None:
            width, height = viewport
            await tab.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
            )
        await tab.send(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
        )
        # Any policy violation or uncaught error on any page is kept for the test to check.
        await tab.send(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.__problems = [];"
                "addEventListener('securitypolicyviolation', e =>"
                " __problems.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));"
                "addEventListener('error', e => __problems.push('error: ' + e.message));"
            },
        )
        return tab


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _devtools_url(stream: asyncio.StreamReader, log: list[str]) -> str:
    prefix = "DevTools listening on "
    while True:
        line = (await stream.readline()).decode(errors="replace")
        if not line:
            raise RuntimeError("Chromium exited before it opened DevTools:\n" + "".join(log))
        log.append(line)
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))
        del log[:-200]


@pytest.fixture
async def browser(chromium: str, tmp_path: Path) -> AsyncIterator[Browser]:
    async with Browser.launch(chromium, tmp_path / "chromium-profile") as launched:
        yield launched


# ---- the shop's side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """What the answering side has: the relay, the shop's account and its web-chat channel."""

    relay_url: str
    account: Account
    channel_id: str


#: Answers the visitor's question as the shop would; returns the reply the page must show.
Answer = Callable[[Shop, str], Awaitable[str]]


async def answer_through_send_api(shop: Shop, question: str) -> str:
    """Play the desktop by hand: take the message off the device stream, reply via /v1/messages."""
    async with open_stream(shop.account) as stream:
        while True:
            (frame,) = await stream.events(1, timeout=30)
            event = frame.event
            if isinstance(event, MessageReceived) and event.text == question:
                break
    text = "Po, e kemi numrin 42 në <b>të zezë</b> dhe në kafe.\nEjani sot deri në 20:00!"
    async with httpx.AsyncClient(base_url=shop.relay_url, headers=shop.account.headers) as c:
        sent = await c.post(
            "/v1/messages",
            json={
                "channel_id": shop.channel_id,
                "recipient_id": event.customer.id,
                "text": text,
                "idempotency_key": f"reply-{frame.id}",
                "in_reply_to": frame.id,
            },
        )
    assert sent.status_code == 200, sent.text
    return text


ENGINE_ANSWER = "Po, e kemi modelin në numrin 42, në të zezë dhe në kafe."


async def answer_with_engine(shop: Shop, question: str) -> str:
    """The real desktop engine answers: it drafts from its knowledge base and auto-sends."""
    with tempfile.TemporaryDirectory() as folder:
        secrets = EncryptedFileCredentials(Path(folder) / "secrets")
        await secrets.save(
            SavedSession(
                relay_url=shop.relay_url,
                token=shop.account.token,
                expires_at_ms=now_ms() + 3_600_000,
                business_id=shop.account.business_id,
                user_id="owner",
            )
        )
        engine = await Engine.open(Path(folder) / "data", credentials=secrets)
        try:
            await engine.preferences.update(
                msgspec.structs.replace(
                    engine.settings,
                    settle_s=0.1,
                    relay=RelaySettings(mode="remote", url=shop.relay_url),
                    policies={shop.channel_id: ChannelPolicy(mode="auto", threshold=0.5)},
                )
            )
            await engine.kb.add_faq(
                "A e keni modelin në numrin 42?", ENGINE_ANSWER, ["numri 42", "madhësia 42"]
            )
            await engine.start()

            async def sent() -> bool:
                conversations = await engine.store.list_conversations()
                if not conversations:
                    return False
                messages = await engine.store.messages(conversations[0].id)
                return any(m.direction == "out" and m.status == "sent" for m in messages)

            await wait_for(sent, timeout=30)
        finally:
            await engine.close()
    return ENGINE_ANSWER


def _lines_js() -> str:
    """The conversation as the page shows it: direction, visible text, and whether it is settled."""
    return (
        "Array.from(document.querySelectorAll('#log .msg')).map(li => ["
        "li.classList.contains('msg-in') ? 'in' : 'out',"
        "li.querySelector('.msg-text').lastChild.textContent,"
        "li.dataset.seq !== undefined])"
    )


# ---- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(answer_through_send_api, id="send-api"),
        pytest.param(answer_with_engine, id="engine"),
    ],
)
async def test_a_visitor_asks_on_a_phone_and_sees_the_reply_live(
    relay: ServedApp, browser: Browser, answer: Answer
) -> None:
    """Typed and sent with Enter, answered by the shop, shown live, and still there after reload."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Dyqani Arta")["id"]
    shop = Shop(relay.url, account, channel)
    page_url = f"{relay.url}/webchat/{channel}"
    tab = await browser.new_tab(viewport=PHONE, languages="sq-AL,sq;q=0.9,en;q=0.5")
    await tab.goto(page_url)
    await tab.wait_for("document.documentElement.lang === 'sq'")
    assert await tab.evaluate("document.getElementById('send').textContent") == "Dërgo"
    assert await tab.evaluate("document.title") == "Dyqani Arta"
    assert await tab.evaluate("document.getElementById('log').getAttribute('aria-busy')") == (
        "false"
    )

    # Keyboard only: Tab reaches the message box (after the scrollable conversation).
    for _ in range(4):
        await tab.press_tab()
        if await tab.evaluate("document.activeElement.id") == "text":
            break
    assert await tab.evaluate("document.activeElement.id") == "text"
    question = "Përshëndetje! A e keni këtë model në numrin 42?"
    await tab.type_text(question)
    await tab.press_enter()
    await tab.wait_for(f"{_lines_js()}.some(l => l[0] === 'in' && l[2])")
    assert await tab.evaluate("document.getElementById('text').value") == ""
    await tab.evaluate("window.__samePage = true")

    reply = await answer(shop, question)
    await tab.wait_for(f"{_lines_js()}.some(l => l[0] === 'out')")
    assert await tab.evaluate(_lines_js()) == [["in", question, True], ["out", reply, True]]
    assert await tab.evaluate("window.__samePage") is True  # arrived live, not by a reload
    assert await tab.evaluate("document.querySelector('#log b')") is None  # text, not markup
    assert await tab.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    await tab.screenshot(SCREENSHOTS / "webchat-phone.png")

    visitor = await tab.evaluate(f"localStorage.getItem('clientora.visitor.{channel}')")
    await tab.reload()
    await tab.wait_for(f"{_lines_js()}.length === 2")
    assert await tab.evaluate(_lines_js()) == [["in", question, True], ["out", reply, True]]
    assert await tab.evaluate(f"localStorage.getItem('clientora.visitor.{channel}')") == visitor
    assert await tab.evaluate("window.__problems") == []


async def test_the_page_follows_a_dark_scheme_and_other_languages(
    relay: ServedApp, browser: Browser
) -> None:
    """A dark system scheme darkens the page; Serbian and unknown languages get their strings."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Prodavnica Mitrović")["id"]
    page_url = f"{relay.url}/webchat/{channel}"
    dark = await browser.new_tab(viewport=PHONE, languages="sr-RS,sr", dark=True)
    await dark.goto(page_url)
    await dark.wait_for("document.documentElement.lang === 'sr'")
    assert await dark.evaluate("document.getElementById('send').textContent") == "Пошаљи"
    background = await dark.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(21, 24, 28)"

    # A conversation held elsewhere (same visitor id) is there when the page loads.
    visitor = await dark.evaluate(f"localStorage.getItem('clientora.visitor.{channel}')")
    question = "Добар дан! Да ли радите у недељу?"
    answer = "Добар дан! Радимо у недељу од 10 до 16 часова."
    async with httpx.AsyncClient(base_url=relay.url, headers=account.headers) as c:
        said = await c.post(
            f"/webchat/{channel}/messages", json={"visitor_id": visitor, "text": question}
        )
        assert said.status_code == 202, said.text
        sent = await c.post(
            "/v1/messages",
            json={
                "channel_id": channel,
                "recipient_id": visitor,
                "text": answer,
                "idempotency_key": f"reply-{visitor}",
            },
        )
        assert sent.status_code == 200, sent.text
    await dark.reload()
    await dark.wait_for(f"{_lines_js()}.length === 2")
    assert await dark.evaluate(_lines_js()) == [["in", question, True], ["out", answer, True]]
    await dark.screenshot(SCREENSHOTS / "webchat-phone-dark.png")

    german = await browser.new_tab(viewport=PHONE, languages="de-DE,de")
    await german.goto(page_url)
    await german.wait_for("document.documentElement.lang === 'en'")
    assert await german.evaluate("document.getElementById('text').placeholder") == (
        "Write a message…"
    )
    for tab in (dark, german):
        assert await tab.evaluate("window.__problems") == []


@pytest.fixture
def shop_site() -> Iterator[Callable[[str], str]]:
    """A shop's own website on another port; ``page(script_url)`` gives a page embedding it."""
    scripts: dict[str, str] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            await send({"type": "lifespan.shutdown.complete"})
            return
        script = scripts.get(scope["path"].strip("/"), "")
        body = (
            '<!doctype html><html lang="sq"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Dyqani Arta</title></head><body><h1>Dyqani Arta</h1>"
            "<p>Këpucë dhe çanta në Prishtinë.</p>"
            f'<script src="{script}" async></script></body></html>'
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    with serve_app(app) as served:

        def page(script_url: str) -> str:
            name = f"page{len(scripts)}"
            scripts[name] = script_url
            return f"{served.url}/{name}"

        yield page


async def test_the_launcher_opens_the_chat_on_a_shop_site(
    relay: ServedApp, browser: Browser, shop_site: Callable[[str], str]
) -> None:
    """The pasted script adds a labelled button that opens the chat in a frame and closes it."""
    account = sign_up(relay.url)
    channel = account.connect(platform="webchat", name="Dyqani Arta")["id"]
    page_url = f"{relay.url}/webchat/{channel}"
    tab = await browser.new_tab(viewport=(1024, 720), languages="sq")
    await tab.goto(shop_site(f"{page_url}/embed.js"))
    launcher = "document.querySelector('[data-clientora]').shadowRoot.querySelector('.launcher')"
    await tab.wait_for(launcher)
    assert await tab.evaluate(f"{launcher}.getAttribute('aria-label')") == "Hap bisedën"
    assert await tab.evaluate(f"{launcher}.getAttribute('aria-expanded')") == "false"

    await tab.evaluate(f"{launcher}.focus()")
    await tab.press_enter()
    await tab.wait_for(f"{launcher}.getAttribute('aria-expanded') === 'true'")
    frame = "document.querySelector('[data-clientora]').shadowRoot.querySelector('iframe')"
    assert await tab.evaluate(f"{frame}.src") == f"{page_url}?embed=1"
    assert await tab.evaluate(f"{frame}.title") == "Biseda"

    inside = await tab.frame_context(page_url)
    await tab.wait_for("document.documentElement.lang === 'sq'", context_id=inside)
    await tab.wait_for("document.activeElement.id === 'text'", context_id=inside)

    # The message box has the focus: the visitor just types.
    question = "Sa kushton dërgesa në Prizren?"
    await tab.type_text(question)
    await tab.press_enter()
    reply = await answer_through_send_api(Shop(relay.url, account, channel), question)
    await tab.wait_for(f"{_lines_js()}.length === 2", context_id=inside)
    assert await tab.evaluate(_lines_js(), inside) == [
        ["in", question, True],
        ["out", reply, True],
    ]
    await tab.screenshot(SCREENSHOTS / "webchat-embed.png")

    assert await tab.evaluate("!document.getElementById('close').hidden", inside) is True
    await tab.evaluate("document.getElementById('close').click()", inside)
    await tab.wait_for(f"{launcher}.getAttribute('aria-expanded') === 'false'")
    panel = "document.querySelector('[data-clientora]').shadowRoot.querySelector('.panel')"
    assert await tab.evaluate(f"{panel}.hidden") is True
    assert await tab.evaluate(
        f"{launcher} === document.querySelector('[data-clientora]').shadowRoot.activeElement"
    )

    # A reply while the panel is closed marks the launcher, in its label too.
    visitor = await tab.evaluate(f"localStorage.getItem('clientora.visitor.{channel}')", inside)
    async with httpx.AsyncClient(base_url=relay.url, headers=account.headers) as c:
        sent = await c.post(
            "/v1/messages",
            json={
                "channel_id": channel,
                "recipient_id": visitor,
                "text": "Falas mbi 30 €.",
                "idempotency_key": f"later-{visitor}",
            },
        )
        assert sent.status_code == 200, sent.text
    dot = "document.querySelector('[data-clientora]').shadowRoot.querySelector('.dot')"
    await tab.wait_for(f"!{dot}.hidden")
    assert await tab.evaluate(f"{launcher}.getAttribute('aria-label')") == (
        "Hap bisedën (përgjigje e re)"
    )
    assert await tab.evaluate("window.__problems") == []
