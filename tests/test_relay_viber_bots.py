"""A Viber bot is one business's: it is known by its own id, not by the channel's."""

from __future__ import annotations

from tests.conftest import VIBER_TOKEN
from tests.fakes.server import ServedApp
from tests.fakes.viber import FakeViber
from tests.relay_helpers import sign_up

FakeViberServer = tuple[FakeViber, ServedApp]


def test_two_businesses_cannot_connect_the_same_bot(
    relay: ServedApp, fake_viber: FakeViberServer
) -> None:
    """The second business pasting the same bot token gets 409 channel_taken, and the bot's
    webhook stays with the first business's channel."""
    fake, _ = fake_viber
    first = sign_up(relay.url).connect(platform="viber", auth_token=VIBER_TOKEN)
    webhook = fake.account_info(VIBER_TOKEN)["webhook"]
    assert webhook.endswith(first["id"])
    with sign_up(relay.url).client() as c:
        taken = c.post("/v1/channels", json={"platform": "viber", "auth_token": VIBER_TOKEN})
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "channel_taken"
    assert fake.account_info(VIBER_TOKEN)["webhook"] == webhook
