"""Relay settings, credential encryption and the admin command."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from relay.crypto import CredentialError, Keyring, PasswordHasher, load_keyring, parse_keys
from relay.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _key(n: int) -> str:
    return base64.urlsafe_b64encode(bytes([n]) * 32).decode().rstrip("=")


def test_settings_come_from_the_environment_typed() -> None:
    """CLIENTORA_RELAY_* variables are converted to their field types; typos are kept to warn."""
    s = Settings.from_env(
        {
            "CLIENTORA_RELAY_PORT": "9000",
            "CLIENTORA_RELAY_SIGNUP_ENABLED": "false",
            "CLIENTORA_RELAY_HEARTBEAT_S": "2.5",
            "CLIENTORA_RELAY_PROT": "1",
            "HOME": "/root",
        }
    )
    assert (s.port, s.signup_enabled, s.heartbeat_s) == (9000, False, 2.5)
    assert "CLIENTORA_RELAY_PROT" in s.extra
    with pytest.raises(ValueError, match="CLIENTORA_RELAY_PORT"):
        Settings.from_env({"CLIENTORA_RELAY_PORT": "eighty"})


def test_rotation_keeps_old_credentials_readable() -> None:
    """A credential sealed with an old key still opens after a new key becomes current."""
    old = parse_keys(f"k1:{_key(1)}")
    kid, blob = old.encrypt(b"page-token", b"channel-1")
    rotated = parse_keys(f"k2:{_key(2)},k1:{_key(1)}")
    assert rotated.current == "k2"
    assert rotated.decrypt(kid, blob, b"channel-1") == b"page-token"
    assert rotated.encrypt(b"x", b"c")[0] == "k2"


def test_tampering_and_wrong_channel_are_detected() -> None:
    """A flipped bit, another channel's id or an unknown key id all refuse to decrypt."""
    ring = Keyring({"k1": bytes(32)}, "k1")
    kid, blob = ring.encrypt(b"secret", b"channel-1")
    with pytest.raises(CredentialError):
        ring.decrypt(kid, blob, b"channel-2")
    with pytest.raises(CredentialError):
        ring.decrypt(kid, blob[:-1] + bytes([blob[-1] ^ 1]), b"channel-1")
    with pytest.raises(CredentialError):
        ring.decrypt("k9", blob, b"channel-1")
    assert "secret" not in repr(ring) and str(bytes(32)) not in repr(ring)


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    """With no keys configured a key file is made once, readable by the owner only."""
    path = tmp_path / "var" / "master.key"
    first = load_keyring("", path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_keyring("", path).keys == first.keys


def test_passwords_are_argon2id() -> None:
    """Passwords are stored as Argon2id PHC strings that verify only the right password."""
    hasher = PasswordHasher(memory_kib=1024, iterations=1)
    encoded = hasher.hash("correct horse battery")
    assert encoded.startswith("$argon2id$")
    assert hasher.verify("correct horse battery", encoded)
    assert not hasher.verify("wrong", encoded)
    assert not hasher.verify("x", "not a hash")


def test_admin_command_creates_a_business(tmp_path: Path) -> None:
    """`clientora-relay create-business` makes an account that can then log in."""
    env = {
        **os.environ,
        "CLIENTORA_RELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
        "CLIENTORA_RELAY_KEY_FILE": str(tmp_path / "key"),
        "CLIENTORA_RELAY_PASSWORD_MEMORY_KIB": "1024",
    }
    args = [
        sys.executable,
        "-m",
        "relay.cli",
        "create-business",
        "--business",
        "Kafe",
        "--name",
        "Arta",
        "--email",
        "arta@example.com",
        "--password-stdin",
    ]

    def create() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            input="a long password\n",
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )

    done = create()
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 32
    again = create()
    assert again.returncode == 1 and "already exists" in again.stderr
