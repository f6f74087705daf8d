"""Where the session token is kept: the OS keyring, or an AES-GCM encrypted file.

The OS keyring (macOS Keychain, Windows Credential Locker, Secret Service/KWallet) is used
whenever ``keyring`` finds a backend that really stores secrets. Otherwise the session is
kept in ``session.enc``, encrypted with AES-GCM under a random 256-bit key in
``session.key`` beside it; both files are created 0600 in a 0700 folder.

The honest limit of the file fallback: it keeps the token out of plain sight (a copied,
synced or attached ``session.enc`` alone reveals nothing, and nothing prints it), but
anyone or anything that can read both files as this user (malware running as the user,
a full backup of the folder) can decrypt it. It is not a substitute for a keyring; the
relay's session expiry and "sign out everywhere" (a password change) bound the damage.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Final, Protocol

import keyring
import keyring.backend
import keyring.errors
import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "CredentialStore",
    "EncryptedFileCredentials",
    "KeyringCredentials",
    "SavedSession",
    "choose_credentials",
    "usable_keyring",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE: Final = "Clientora"
_AAD: Final = b"clientora-session:v1"
_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class SavedSession(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in session: enough to reconnect without asking for the password."""

    relay_url: str
    token: str
    expires_at_ms: int
    business_id: str
    user_id: str
    email: str | None = None
    device_id: str | None = None

    def __repr__(self) -> str:  # the token stays out of logs and tracebacks
        return f"SavedSession(relay_url={self.relay_url!r}, business_id={self.business_id!r})"


class CredentialStore(Protocol):
    """Keeps one saved session; methods run their blocking work off the event loop."""

    @property
    def description(self) -> str:
        """Where the session is kept, in words for the settings screen."""
        ...

    async def load(self) -> SavedSession | None: ...
    async def save(self, session: SavedSession) -> None: ...
    async def clear(self) -> None: ...


class _Envelope(msgspec.Struct, frozen=True):
    v: int
    nonce: str
    data: str


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by this user only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # an older tmp file may have had wider rights
    os.replace(tmp, path)


class _Blocking(ABC):
    """A credential store whose storage blocks (a file, the OS keyring): the async
    methods run it in a worker thread, off the event loop."""

    @abstractmethod
    def _load(self) -> SavedSession | None: ...
    @abstractmethod
    def _save(self, session: SavedSession) -> None: ...
    @abstractmethod
    def _clear(self) -> None: ...

    async def load(self) -> SavedSession | None:
        return await asyncio.to_thread(self._load)

    async def save(self, session: SavedSession) -> None:
        await asyncio.to_thread(self._save, session)

    async def clear(self) -> None:
        await asyncio.to_thread(self._clear)


class EncryptedFileCredentials(_Blocking):
    """The session in ``folder/session.enc`` (AES-GCM), its key in ``folder/session.key``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data_path = folder / "session.enc"
        self.key_path = folder / "session.key"

    @property
    def description(self) -> str:
        return f"an encrypted file in {self.folder}"

    def _key(self, create: bool) -> bytes | None:
        try:
            key = self.key_path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) == _KEY_BYTES:
            return key
        if not create:
            return None
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(_KEY_BYTES)
        _write_private(self.key_path, key)
        return key

    def _load(self) -> SavedSession | None:
        try:
            raw = self.data_path.read_bytes()
        except FileNotFoundError:
            return None
        key = self._key(create=False)
        if key is None:
            log.warning("saved session has no key file; sign in again")
            return None
        try:
            envelope = msgspec.json.decode(raw, type=_Envelope)
            plain = AESGCM(key).decrypt(
                base64.b64decode(envelope.nonce), base64.b64decode(envelope.data), _AAD
            )
            return msgspec.json.decode(plain, type=SavedSession)
        except (msgspec.DecodeError, InvalidTag, ValueError):
            log.warning("saved session could not be read; sign in again")
            return None

    def _save(self, session: SavedSession) -> None:
        key = self._key(create=True)
        assert key is not None
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, msgspec.json.encode(session), _AAD)
        envelope = _Envelope(1, base64.b64encode(nonce).decode(), base64.b64encode(sealed).decode())
        _write_private(self.data_path, msgspec.json.encode(envelope))

    def _clear(self) -> None:
        # The key goes too: a stale copy of session.enc can then never be opened.
        for path in (self.data_path, self.key_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class KeyringCredentials(_Blocking):
    """The session as one secret in the OS keyring (service ``Clientora``)."""

    def __init__(self, backend: keyring.backend.KeyringBackend, account: str = "session") -> None:
        self.backend = backend
        self.account = account

    @property
    def description(self) -> str:
        return f"the system keyring ({type(self.backend).__name__})"

    def _load(self) -> SavedSession | None:
        try:
            raw = self.backend.get_password(KEYRING_SERVICE, self.account)
        except keyring.errors.KeyringError:
            log.warning("the system keyring could not be read", exc_info=True)
            return None
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=SavedSession)
        except msgspec.DecodeError:
            return None

    def _save(self, session: SavedSession) -> None:
        self.backend.set_password(
            KEYRING_SERVICE, self.account, msgspec.json.encode(session).decode()
        )

    def _clear(self) -> None:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self.backend.delete_password(KEYRING_SERVICE, self.account)


def usable_keyring(
    backend: keyring.backend.KeyringBackend | None = None,
) -> keyring.backend.KeyringBackend | None:
    """The keyring backend if it really keeps secrets (None: no usable keyring).

    Backends with priority below 1 are refused: the "fail" and "null" backends, an empty
    chain, and plain-text stores such as keyrings.alt's.
    """
    try:
        chosen = backend if backend is not None else keyring.get_keyring()
        priority = float(chosen.priority)
    except Exception:
        return None
    chain = getattr(chosen, "backends", None)
    if isinstance(chain, list) and not chain:
        return None
    return chosen if priority >= 1 else None


def choose_credentials(
    folder: Path,
    *,
    use_keyring: bool = True,
    backend: keyring.backend.KeyringBackend | None = None,
) -> CredentialStore:
    """The OS keyring when usable (and ``use_keyring``), else the encrypted file in ``folder``.

    Call it off the UI thread: looking up the system keyring may talk to D-Bus.
    """
    if use_keyring:
        found = usable_keyring(backend)
        if found is not None:
            return KeyringCredentials(found)
    return EncryptedFileCredentials(folder)
