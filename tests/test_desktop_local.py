"""'Run on this computer': the embedded relay, the built-in test channel, the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from desktop.core.credentials import EncryptedFileCredentials
from desktop.core.engine import Engine
from desktop.core.services import TEST_VISITOR
from desktop.embedded import EmbeddedRelay
from tests.engine_helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


async def test_local_mode_drafts_for_the_test_channel_and_replies(tmp_path: Path) -> None:
    """A shop with no server types as a customer, sees a grounded draft, approves it."""
    folder = tmp_path / "data"
    engine = await Engine.open(
        folder,
        local_relay=lambda f, _: EmbeddedRelay(f, port=0),
        credentials=EncryptedFileCredentials(folder / "secrets"),
    )
    try:
        await engine.session.run_locally("Dyqani i Artës")
        assert engine.session.mode == "local" and engine.channels.test_channel_id
        await engine.kb.add_faq("Sa kushton dërgesa?", "Dërgesa brenda Prishtinës është falas.")
        await engine.channels.simulate_customer("Sa kushton dërgesa në Prishtinë?")
        await wait_for(engine.store.pending_drafts, timeout=20)
        (draft,) = await engine.store.pending_drafts()
        assert "falas" in draft.text and draft.grounded
        await engine.conversations.approve_draft(draft.id)
        url = f"{engine.client.base_url}/webchat/{engine.channels.test_channel_id}/messages"

        def replied() -> bool:
            lines = httpx.get(url, params={"visitor_id": TEST_VISITOR}).json()
            return any(line["direction"] == "out" for line in lines)

        await wait_for(replied)
    finally:
        await engine.close()
    # Reopening finds the same account and test channel without asking anything.
    again = await Engine.open(
        folder,
        local_relay=lambda f, _: EmbeddedRelay(f, port=0),
        credentials=EncryptedFileCredentials(folder / "secrets"),
    )
    try:
        assert again.session.signed_in and again.session.mode == "local"
        assert again.channels.test_channel_id
        await again.start()
        await wait_for(again.store.list_conversations)
    finally:
        await again.close()


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop.cli", "--data", str(data), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"},
    )


def test_kb_command_line(tmp_path: Path) -> None:
    """`clientora kb` adds, lists, imports, asks and removes, with clear errors."""
    data = tmp_path / "data"
    added = _cli(
        data,
        "kb",
        "add-faq",
        "Where are you?",
        "Rruga Agim Ramadani 15, Prishtina.",
        "--alt",
        "address",
    )
    assert added.returncode == 0, added.stderr
    item_id = added.stdout.strip()
    doc = tmp_path / "returns.md"
    doc.write_text("# Returns\n\nYou can return shoes within 14 days with the receipt.\n")
    imported = _cli(data, "kb", "import", str(doc), str(tmp_path / "missing.pdf"))
    assert imported.returncode == 1
    assert "ok   " in imported.stdout and "FAIL" in imported.stdout
    listing = _cli(data, "kb", "list")
    assert item_id in listing.stdout and "Returns" in listing.stdout
    ask = _cli(data, "kb", "ask", "what is your address?")
    assert (
        ask.returncode == 0 and "Agim Ramadani" in ask.stdout and "draft (extractive" in ask.stdout
    )
    assert _cli(data, "kb", "remove", item_id).returncode == 0
    assert _cli(data, "kb", "remove", item_id).returncode == 1
    assert item_id not in _cli(data, "kb", "list").stdout
    headless = _cli(data, "serve", "--headless")
    assert headless.returncode == 1 and "not signed in" in headless.stderr
