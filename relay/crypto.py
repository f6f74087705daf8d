"""Secrets at rest: AES-GCM credential encryption with key ids, Argon2id passwords, tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

__all__ = [
    "CredentialError",
    "HasherBusy",
    "Keyring",
    "PasswordHasher",
    "hash_token",
    "load_keyring",
    "new_token",
]

T = TypeVar("T")

_NONCE = 12


class CredentialError(Exception):
    """A stored credential cannot be decrypted (unknown key id or tampered data)."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """AES-256-GCM keys by id; ``current`` encrypts, any known key decrypts (rotation)."""

    keys: dict[str, bytes]
    current: str

    def encrypt(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        return self.current, nonce + AESGCM(self.keys[self.current]).encrypt(nonce, plaintext, aad)

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise CredentialError(f"credential key {key_id!r} is not configured")
        try:
            return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except InvalidTag:
            raise CredentialError("credential failed its integrity check") from None

    def __repr__(self) -> str:  # keys never reach a log or traceback
        return f"Keyring(ids={sorted(self.keys)}, current={self.current!r})"


def parse_keys(spec: str) -> Keyring:
    """Read ``kid:base64key,kid:base64key``; the first listed key is the current one."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, sep, encoded = part.partition(":")
        if not sep or not kid:
            raise ValueError("master keys must look like kid:base64key")
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if len(key) != 32:
            raise ValueError(f"master key {kid!r} must be 32 bytes")
        keys[kid] = key
        order.append(kid)
    if not order:
        raise ValueError("no master key given")
    return Keyring(keys, order[0])


def load_keyring(spec: str, key_file: Path) -> Keyring:
    """Keys from the configuration, else from ``key_file``, created (0600) on first run."""
    if spec:
        return parse_keys(spec)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        encoded = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"k1:{encoded}\n")
    return parse_keys(key_file.read_text().strip().replace("\n", ","))


class HasherBusy(Exception):
    """Too many password checks are already waiting; the caller should try again soon."""


class _Gate:
    """At most ``slots`` hashes run at once (each holds a core and ``memory_kib`` for a
    fifth of a second); at most ``waiting`` more queue, and beyond that callers are turned
    away, so a flood of logins cannot exhaust memory or starve the event loop's threads."""

    def __init__(self, slots: int, waiting: int) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._limit = slots + waiting
        self._inside = 0

    async def run(self, work: Callable[[], T]) -> T:
        if self._inside >= self._limit:
            raise HasherBusy("too many password checks at once")
        self._inside += 1
        try:
            async with self._slots:
                return await asyncio.to_thread(work)
        finally:
            self._inside -= 1


@dataclass(frozen=True, slots=True)
class PasswordHasher:
    """Argon2id in PHC string form; the parameters travel inside each hash. The async
    methods run in a thread behind a bound on concurrent hashes."""

    memory_kib: int = 19 * 1024
    iterations: int = 2
    #: Hashes run at once (0: one per core, at least two) and callers allowed to queue.
    max_concurrent: int = 0
    max_waiting: int = 64
    _gate: _Gate = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        slots = self.max_concurrent or max(2, os.cpu_count() or 2)
        object.__setattr__(self, "_gate", _Gate(slots, self.max_waiting))

    async def hash_async(self, password: str) -> str:
        return await self._gate.run(lambda: self.hash(password))

    async def verify_async(self, password: str, encoded: str) -> bool:
        return await self._gate.run(lambda: self.verify(password, encoded))

    def hash(self, password: str) -> str:
        kdf = Argon2id(
            salt=os.urandom(16),
            length=32,
            iterations=self.iterations,
            lanes=1,
            memory_cost=self.memory_kib,
        )
        return kdf.derive_phc_encoded(password.encode())

    @staticmethod
    def verify(password: str, encoded: str) -> bool:
        try:
            Argon2id.verify_phc_encoded(password.encode(), encoded)
        except (InvalidKey, ValueError):
            return False
        return True


def new_token() -> str:
    """An opaque 256-bit session token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are random and long, so one SHA-256 suffices to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()
