"""Erasing a customer reaches every desktop, and the receipt lists what each erased."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.engine_helpers import now_ms, open_engine, wait_for
from tests.fakes.server import ServedApp
from tests.relay_helpers import messenger_text, post_meta


async def test_erasure_reaches_the_desktop_and_its_receipt(
    tmp_path: Path, relay: ServedApp
) -> None:
    """The relay's erase event removes the customer locally; the device confirms the counts."""
    engine = await open_engine(tmp_path / "desktop", relay.url)
    try:
        for i in range(3):
            post_meta(
                relay.url, messenger_text("PAGE1", "PSID-ERASE", f"x{i}", f"msg {i}", now_ms())
            )
        post_meta(relay.url, messenger_text("PAGE1", "PSID-KEEP", "k1", "stay", now_ms()))

        async def two_conversations() -> bool:
            return len(await engine.store.list_conversations()) == 2

        await wait_for(two_conversations)
        channel = next(c for c in await engine.store.channels() if c.platform == "messenger")
        headers = {"Authorization": f"Bearer {engine.client.token}"}
        r = httpx.delete(
            f"{relay.url}/v1/channels/{channel.id}/customers/PSID-ERASE", headers=headers
        )
        assert r.status_code == 200, r.text
        request_id = r.json()["request_id"]

        async def erased() -> bool:
            names = [c.customer.platform_id for c in await engine.store.list_conversations()]
            return names == ["PSID-KEEP"]

        await wait_for(erased)

        def confirmed() -> bool:
            receipt = httpx.get(f"{relay.url}/v1/erasures/{request_id}", headers=headers).json()
            return any(d.get("counts") for d in receipt["devices"])

        await wait_for(confirmed)
        receipt = httpx.get(f"{relay.url}/v1/erasures/{request_id}", headers=headers).json()
        (device,) = receipt["devices"]
        assert device["counts"] == {
            "customer": 1,
            "messages": 3,
            "drafts": device["counts"]["drafts"],
        }
        assert "PSID-ERASE" not in r.text + str(receipt)
        assert b"msg 1" not in (tmp_path / "desktop" / "inbox.db").read_bytes()
    finally:
        await engine.close()
