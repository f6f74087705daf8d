"""deploy/: the env template names every setting; the systemd unit and nginx example check."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay.serving import DRAIN_S
from relay.settings import ENV_PREFIX, Settings
from tests.needs import tool

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _env_lines() -> list[tuple[bool, str, str]]:
    """(set, key, value) for each ``KEY=value`` line, commented out or not."""
    found = []
    for line in (DEPLOY / "relay.env").read_text().splitlines():
        match = re.fullmatch(r"(#?)([A-Z0-9_]+)=(.*)", line)
        if match:
            found.append((not match[1], match[2], match[3]))
    return found


def test_env_template_names_every_setting_once_and_its_values_are_read() -> None:
    """deploy/relay.env has a line for every relay setting (and nothing else), and the
    values it sets are read by the relay without a warning."""
    expected = {ENV_PREFIX + f.name.upper() for f in fields(Settings) if f.name != "extra"}
    keys = [key for _, key, _ in _env_lines()]
    assert sorted(keys) == sorted(expected)
    values = {key: value for is_set, key, value in _env_lines() if is_set}
    settings = Settings.from_env(values)
    assert settings.extra == {}
    assert settings.database_url.startswith("postgresql://")
    assert settings.workers > 1


def test_systemd_unit_verifies_and_outlasts_the_drain(tmp_path: Path) -> None:
    """The unit passes ``systemd-analyze verify``, stops the main process first and gives
    the relay longer than its drain before killing it."""
    text = (DEPLOY / "clientora-relay.service").read_text()
    options = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[:1].isalpha()
    )
    assert options["KillMode"] == "mixed"
    assert int(options["TimeoutStopSec"]) > DRAIN_S
    assert options["NoNewPrivileges"] == "yes"
    assert options["ProtectSystem"] == "strict"
    verify = tool("systemd-analyze")
    unit = tmp_path / "clientora-relay.service"
    # verify checks that ExecStart exists: point it at this interpreter.
    unit.write_text(text.replace("/opt/clientora/bin/clientora-relay", sys.executable))
    done = subprocess.run(
        [verify, "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "clientora-relay.service" not in done.stderr, done.stderr


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.example.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_nginx_example_is_a_valid_configuration(tmp_path: Path) -> None:
    """deploy/nginx.conf, with certificates in place, passes ``nginx -t``."""
    nginx = tool("nginx")
    cert, key = _self_signed(tmp_path)
    site = (DEPLOY / "nginx.conf").read_text()
    site = site.replace("/etc/letsencrypt/live/relay.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/relay.example.com/privkey.pem", str(key))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\n"
        f"error_log {tmp_path}/error.log;\n"
        "events {}\n"
        "http {\n"
        f"    access_log {tmp_path}/access.log;\n"
        f"    client_body_temp_path {tmp_path}/body;\n"
        f"    include {tmp_path}/site.conf;\n"
        "}\n"
    )
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
