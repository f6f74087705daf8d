""" "Forget this customer": erase at the relay, on this computer, and fetch the receipt."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from desktop.core.relay_client import RelayClient
from desktop.core.store import Store
from desktop.core.store.changes import Change, ConversationRemoved

__all__ = ["ForgetError", "forget_customer", "receipt_words"]


class ForgetError(Exception):
    """The customer could not be erased; ``message`` says why in plain words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def forget_customer(
    client: RelayClient, store: Store, conversation_id: int, *, timeout_s: float = 30.0
) -> dict[str, Any]:
    """Erase the conversation's customer everywhere; returns the signed receipt.

    The relay erases what it holds and streams the erasure to every device; this computer
    erases it when that event is applied (the same path as a deletion the customer asked
    Meta for), so the receipt is fetched once it is gone here too.
    """
    conversation = await store.conversation(conversation_id)
    if conversation is None:
        raise ForgetError("This customer was already erased.")
    gone = asyncio.Event()

    def listen(changes: Sequence[Change]) -> None:
        if any(
            isinstance(c, ConversationRemoved) and c.conversation_id == conversation_id
            for c in changes
        ):
            gone.set()

    unsubscribe = store.changes.subscribe(listen)
    try:
        result = await client.erase_customer(
            conversation.channel_id, conversation.customer.platform_id
        )
        if await store.conversation(conversation_id) is not None:
            try:
                await asyncio.wait_for(gone.wait(), timeout_s)
            except TimeoutError:
                raise ForgetError(
                    "The Clientora service erased the customer, but this computer has not"
                    " caught up yet: it erases them as soon as it is connected."
                ) from None
    finally:
        unsubscribe()
    return await client.erasure_receipt(result.request_id)


def receipt_words(receipt: dict[str, Any]) -> str:
    """The receipt in a few lines the owner can read (the signed JSON is kept as it is)."""
    lines = [f"Deletion receipt {receipt.get('request_id', '')}"]
    channel = receipt.get("channel") or {}
    if isinstance(channel, dict) and channel.get("name"):
        lines.append(f"Channel: {channel.get('name')} ({channel.get('platform', '')})")
    lines.append(f"Erased at: {receipt.get('erased_at', '')}")
    relay = receipt.get("relay") or {}
    if isinstance(relay, dict) and relay:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(relay.items()))
        lines.append(f"On the Clientora service: {counts}")
    for device in receipt.get("devices") or []:
        if isinstance(device, dict):
            state = device.get("status", "")
            erased = device.get("counts") or {}
            what = ", ".join(f"{v} {k}" for k, v in sorted(erased.items())) if erased else ""
            lines.append(f"{device.get('device_name', 'A computer')}: {state} {what}".rstrip())
    return "\n".join(lines)
