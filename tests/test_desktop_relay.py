"""The desktop's relay client against a real relay, and where the session token is kept."""

from __future__ import annotations

import base64
import random
import stat
import uuid
from pathlib import Path

import keyring.backend
import keyring.backends.fail
import pytest

from common.protocol import ConnectChannel, SendReply, SignUp
from desktop.core.credentials import (
    EncryptedFileCredentials,
    KeyringCredentials,
    SavedSession,
    choose_credentials,
    usable_keyring,
)
from desktop.core.relay_client import (
    Backoff,
    RelayClient,
    RelayRefused,
    RelayUnreachable,
    SignInRequired,
    StreamClosed,
)
from tests.conftest import PAGE_TOKEN
from tests.fakes.server import ServedApp

PASSWORD = "correct horse battery"


def _signup() -> SignUp:
    return SignUp(
        business_name="Kafe Prishtina",
        name="Arta",
        email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
        password=PASSWORD,
    )


def _session(token: str = "tok-secret-0123456789abcdef") -> SavedSession:
    return SavedSession(
        relay_url="http://127.0.0.1:8700",
        token=token,
        expires_at_ms=2_000_000_000_000,
        business_id="biz-1",
        user_id="user-1",
        email="owner@example.com",
        device_id="dev-1",
    )


def token_of(client: RelayClient) -> str | None:
    return client.token


async def test_signup_login_devices_channels_logout(relay: ServedApp) -> None:
    """The client signs up, logs in, registers a device, lists channels and logs out."""
    async with RelayClient(relay.url + "/") as client:
        data = _signup()
        created = await client.signup(data)
        assert client.token == created.token
        session = await client.login(data.email.upper(), PASSWORD)
        assert session.business_id == created.business_id and client.token == session.token
        device = await client.register_device("Laptop")
        assert [d.id for d in await client.devices()] == [device.id]
        channel = await client.connect_channel(
            ConnectChannel(
                platform="messenger", page_id="PAGE1", access_token=PAGE_TOKEN, name="Kafe"
            )
        )
        (listed,) = await client.channels()
        assert listed.id == channel.id and listed.name == "Kafe"
        await client.logout()
        assert token_of(client) is None
        client.token = session.token
        with pytest.raises(SignInRequired) as ended:
            await client.devices()
        assert ended.value.status == 401 and "sign in" in ended.value.message.lower()


async def test_refusals_are_typed_with_plain_messages(relay: ServedApp) -> None:
    """Wrong passwords, unknown channels and a missing token come back as typed errors."""
    async with RelayClient(relay.url) as client:
        data = _signup()
        await client.signup(data)
        with pytest.raises(RelayRefused) as wrong:
            await client.login(data.email, "not the password")
        assert wrong.value.code == "bad_credentials" and wrong.value.status == 401
        await client.login(data.email, PASSWORD)
        reply = SendReply(channel_id="nope", recipient_id="U1", text="hi", idempotency_key="k" * 12)
        with pytest.raises(RelayRefused) as unknown:
            await client.send_reply(reply)
        assert unknown.value.code == "unknown_channel" and unknown.value.status == 404
        client.token = None
        with pytest.raises(SignInRequired):
            await client.send_reply(reply)
        with pytest.raises(SignInRequired):
            await client.open_stream("dev", 0)


async def test_unreachable_relay_is_reported_as_such() -> None:
    """A refused connection is RelayUnreachable for HTTP and for the stream."""
    async with RelayClient("http://127.0.0.1:9", token="t", connect_timeout_s=2) as client:
        with pytest.raises(RelayUnreachable):
            await client.devices()
        with pytest.raises(RelayUnreachable):
            await client.open_stream("dev", 0)


async def test_stream_opens_with_welcome_and_unknown_device_is_refused(relay: ServedApp) -> None:
    """open_stream returns after the Welcome; another business's device closes with 4403."""
    async with RelayClient(relay.url) as client, RelayClient(relay.url) as other:
        await client.signup(_signup())
        device = await client.register_device("Laptop")
        await other.signup(_signup())
        foreign = await other.register_device("Phone")
        stream = await client.open_stream(device.id, 0)
        assert stream.welcome.device_id == device.id and stream.welcome.head == 0
        await stream.close()
        with pytest.raises(StreamClosed) as closed:
            await client.open_stream(foreign.id, 0)
        assert closed.value.device_unknown and not closed.value.sign_in_required


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    """Delays double from the initial step, stay in the step's upper half, and cap."""
    backoff = Backoff(initial_s=0.5, cap_s=30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    steps = [min(30.0, 0.5 * 2**i) for i in range(12)]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_encrypted_file_keeps_the_token_out_of_plain_sight(tmp_path: Path) -> None:
    """The session round-trips; both files are 0600; the file alone does not hold the token."""
    folder = tmp_path / "profile"
    creds = EncryptedFileCredentials(folder)
    assert await creds.load() is None
    saved = _session()
    await creds.save(saved)
    assert await creds.load() == saved
    for path in (creds.data_path, creds.key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = creds.data_path.read_bytes()
    assert saved.token.encode() not in raw
    assert base64.b64encode(saved.token.encode()) not in raw
    assert saved.token not in repr(saved)
    await creds.save(_session("second-token-abcdef"))
    assert (await creds.load()).token == "second-token-abcdef"  # type: ignore[union-attr]


async def test_encrypted_file_tampered_or_keyless_reads_as_signed_out(tmp_path: Path) -> None:
    """A changed file or a lost key makes load() None (sign in again), never an exception."""
    creds = EncryptedFileCredentials(tmp_path)
    await creds.save(_session())
    data = bytearray(creds.data_path.read_bytes())
    data[-5] = ord("A") if data[-5] != ord("A") else ord("B")
    creds.data_path.write_bytes(bytes(data))
    assert await creds.load() is None
    await creds.save(_session())
    creds.key_path.unlink()
    assert await creds.load() is None
    await creds.save(_session())
    await creds.clear()
    assert not creds.data_path.exists() and not creds.key_path.exists()
    assert await creds.load() is None


class _MemoryKeyring(keyring.backend.KeyringBackend):
    """A stand-in OS keyring for tests (the real one is never touched)."""

    priority = 5

    def __init__(self) -> None:  # the base only reads keyring settings from the environment
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


async def test_keyring_is_used_when_usable_else_the_encrypted_file(tmp_path: Path) -> None:
    """A real keyring backend keeps the session; the fail backend falls back to the file."""
    failing = keyring.backends.fail.Keyring()  # type: ignore[no-untyped-call]
    assert usable_keyring(failing) is None
    fallback = choose_credentials(tmp_path, backend=failing)
    assert isinstance(fallback, EncryptedFileCredentials)
    assert isinstance(choose_credentials(tmp_path, use_keyring=False), EncryptedFileCredentials)

    memory = _MemoryKeyring()
    chosen = choose_credentials(tmp_path, backend=memory)
    assert isinstance(chosen, KeyringCredentials)
    await chosen.save(_session())
    assert (await chosen.load()) == _session()
    assert len(memory.items) == 1
    await chosen.clear()
    assert await chosen.load() is None
    assert not (tmp_path / "session.enc").exists()


async def test_web_chat_visitor_and_usage_report(relay: ServedApp) -> None:
    """A web-chat line can be written as a visitor; the usage report counts it."""
    async with RelayClient(relay.url) as client:
        await client.signup(_signup())
        channel = await client.connect_channel(ConnectChannel(platform="webchat", name="Site"))
        await client.webchat_say(channel.id, "visitor-0001", "Hello from the site", "Ana")
        with pytest.raises(RelayRefused) as bad:
            await client.webchat_say(channel.id, "short", "x")
        assert bad.value.status is not None and bad.value.status < 500
        report = await client.usage()
        assert report.resets_on and isinstance(report.plan, dict)
        assert any(row.get("inbound_messages") for row in report.rows)
