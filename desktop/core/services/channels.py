"""Channels: the list, connecting (by hand or with Facebook), their health and its fixes,
each channel's assistant policy, and the built-in test channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import msgspec

from common.away import AwayChannel
from common.health import ChannelHealth
from common.onboarding import MetaLoginStarted, MetaLoginState
from common.protocol import ChannelInfo, ConnectChannel
from desktop.core.autopilot import ChannelPolicy
from desktop.core.relay_client import RelayClient
from desktop.core.store import Channel, Store

from .errors import EngineError, plainly
from .preferences import Preferences

__all__ = ["TEST_VISITOR", "ChannelsService"]

#: The web-chat visitor the test chat writes as.
TEST_VISITOR = "test-customer-0001"


class ChannelsService:
    """What the channels screen, the onboarding dialogs and the test chat need."""

    def __init__(
        self,
        preferences: Preferences,
        store: Store,
        client: RelayClient,
        device_id: Callable[[], str | None],
        test_channel_id: str | None,
    ) -> None:
        self.preferences = preferences
        self.store = store
        self.client = client
        self._device_id = device_id
        self.test_channel_id = test_channel_id

    @property
    def relay_url(self) -> str:
        """Where the relay answers (a web chat's page and snippet point there)."""
        return self.client.base_url

    async def channels(self) -> list[Channel]:
        """The business's channels as this device last heard of them."""
        return await self.store.channels()

    @property
    def policies(self) -> Mapping[str, ChannelPolicy]:
        return self.preferences.settings.policies

    async def set_policy(self, channel_id: str, policy: ChannelPolicy) -> None:
        settings = self.preferences.settings
        policies = {**settings.policies, channel_id: policy}
        await self.preferences.update(msgspec.structs.replace(settings, policies=policies))

    @property
    def away(self) -> Mapping[str, AwayChannel]:
        """Each channel's away-reply switch (the relay is told by ``AwayService``)."""
        return self.preferences.settings.away

    async def set_away(self, channel_id: str, switch: AwayChannel) -> None:
        """Save the channel's away switch (the relay's copy follows, see AwayService)."""
        settings = self.preferences.settings
        away = {**settings.away, channel_id: switch}
        await self.preferences.update(msgspec.structs.replace(settings, away=away))

    # ---- connecting ---------------------------------------------------------------------

    async def connect_channel(self, data: ConnectChannel) -> ChannelInfo:
        info = await plainly(self.client.connect_channel(data))
        await self._refresh()
        return info

    async def disconnect_channel(self, channel_id: str) -> None:
        await plainly(self.client.disconnect_channel(channel_id))
        await self._refresh()
        if channel_id == self.test_channel_id:
            self.test_channel_id = None
            await asyncio.to_thread(
                (self.preferences.data_dir / "test-channel").unlink, missing_ok=True
            )

    async def _refresh(self) -> None:
        await self.store.replace_channels(await plainly(self.client.channels()))

    # Connect with Facebook: start_meta_login -> the UI opens login_url in the system
    # browser -> wait_meta_assets -> the owner picks -> connect_meta_assets.

    async def start_meta_login(self) -> MetaLoginStarted:
        """A single-use Connect with Facebook link for this device (``login_url``)."""
        device_id = self._device_id()
        if device_id is None:
            raise EngineError("Sign in first.")
        return await plainly(self.client.start_meta_login(device_id))

    async def meta_assets(self, login_id: str) -> MetaLoginState:
        """Where the sign-in stands; ``assets`` (no tokens) once the browser is done."""
        return await plainly(self.client.meta_login(login_id))

    async def wait_meta_assets(
        self, login_id: str, *, timeout_s: float = 600.0, interval_s: float = 1.0
    ) -> MetaLoginState:
        """Wait for the browser part: the state to pick from; EngineError in plain words when
        the owner cancelled, allowed nothing usable, or the link expired."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            state = await self.meta_assets(login_id)
            if state.status == "failed":
                raise EngineError(
                    state.message or "The Facebook sign-in did not work; start again."
                )
            if state.status != "pending":
                return state
            if loop.time() >= deadline:
                raise EngineError(
                    "The Facebook sign-in was not finished in the browser; start again."
                )
            await asyncio.sleep(interval_s)

    async def connect_meta_assets(self, login_id: str, picks: Sequence[str]) -> list[ChannelInfo]:
        """Connect the picked Pages, Instagram accounts and numbers: all of them, or none."""
        infos = await plainly(self.client.connect_meta_assets(login_id, list(picks)))
        await self._refresh()
        return infos

    # ---- health -------------------------------------------------------------------------

    async def channel_health(self, channel_id: str) -> ChannelHealth:
        """The channel's health as the relay last saw it, with the fix for each problem."""
        return await plainly(self.client.channel_health(channel_id))

    async def check_channel(self, channel_id: str) -> ChannelHealth:
        """Have the relay check the channel with its platform now."""
        health = await plainly(self.client.check_channel(channel_id))
        await self._refresh()
        return health

    async def resubscribe(self, channel_id: str) -> ChannelHealth:
        """The "resubscribe" fix: the platform sends the channel's messages here again."""
        health = await plainly(self.client.resubscribe(channel_id))
        await self._refresh()
        return health

    # ---- the test channel ---------------------------------------------------------------

    async def ensure_test_channel(self) -> None:
        """Make the built-in web-chat test channel, once."""
        if self.test_channel_id is not None:
            return
        channel = await plainly(
            self.client.connect_channel(ConnectChannel(platform="webchat", name="Test channel"))
        )
        self.test_channel_id = channel.id
        await asyncio.to_thread((self.preferences.data_dir / "test-channel").write_text, channel.id)

    async def simulate_customer(
        self, text: str, *, customer: str = "Test customer", visitor: str = TEST_VISITOR
    ) -> None:
        """Write into the built-in test channel as if a customer did (each ``visitor`` is a
        customer of its own, with a conversation of its own)."""
        if self.test_channel_id is None:
            raise EngineError("There is no test channel; run on this computer to get one.")
        await plainly(self.client.webchat_say(self.test_channel_id, visitor, text, customer))
