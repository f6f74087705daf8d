"""The relay's Store: every feature's queries, written once, over one database driver."""

from __future__ import annotations

from relay.store.accounts import Accounts
from relay.store.attempts import PasswordAttempts
from relay.store.away import Away
from relay.store.base import CommitListener
from relay.store.channels import Channels
from relay.store.erasure import Erasure
from relay.store.events import Appends, Events
from relay.store.health import ChannelHealth
from relay.store.logins import MetaLogins
from relay.store.port import Database
from relay.store.quotas import Quotas
from relay.store.retention import Retention
from relay.store.sends import Sends
from relay.store.usage import Usage

__all__ = ["SqlStore"]


class SqlStore(
    Accounts,
    PasswordAttempts,
    Channels,
    ChannelHealth,
    Events,
    Sends,
    Usage,
    Quotas,
    Erasure,
    Retention,
    MetaLogins,
    Away,
):
    """Every query names its business; nothing crosses from one business to another. The
    driver (``Database``) decides only how SQL runs."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._appends = Appends(db)

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener`` with the business ids that have new events after each commit."""
        self._db.on_commit(listener)

    def hears_others(self) -> bool:
        """Whether other relay processes' commits wake this one's streams now."""
        return self._db.hears_others()

    async def close(self) -> None:
        await self._db.close()
