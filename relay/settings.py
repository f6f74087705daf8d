"""The relay's settings: one typed object, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "CLIENTORA_RELAY_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the relay can be told. Each field is also an environment variable:
    ``CLIENTORA_RELAY_`` + the field name in capitals (see docs/relay.md)."""

    database_url: str = "sqlite:///var/relay.db"
    """``sqlite:///PATH`` (embedded default) or ``postgresql://...``."""
    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8700
    """Port to listen on."""
    workers: int = 1
    """Relay processes sharing the port (more than 1 needs PostgreSQL); ``serve --workers``."""
    trusted_proxies: str = ""
    """Reverse proxies whose ``X-Forwarded-For``/``-Proto`` are believed (comma-separated
    addresses or networks, ``*`` for any). Empty: none, so the connecting address is the
    client's; behind a proxy set its address, or every client looks like the proxy."""
    public_url: str = "http://127.0.0.1:8700"
    """How the platforms reach this relay (used for Viber's webhook URL)."""
    master_keys: str = ""
    """Credential keys, ``kid:base64key[,kid:base64key...]``; the first encrypts, all decrypt."""
    key_file: str = "var/master.key"
    """Where a generated key is kept (0600) when ``master_keys`` is empty."""
    meta_app_secret: str = ""
    """Meta app secret: signs webhooks and data-deletion requests."""
    meta_verify_token: str = ""
    """The verify token typed into Meta's App Dashboard for the webhook handshake."""
    meta_app_id: str = ""
    """Meta app id; with the app secret and ``meta_login_config_id`` it turns on "Connect with
    Facebook"."""
    meta_login_config_id: str = ""
    """Facebook Login for Business configuration id: the permissions and assets it asks for."""
    graph_dialog_url: str = "https://www.facebook.com/v25.0/dialog/oauth"
    """Meta's OAuth dialog; keep its version in step with ``graph_base_url``."""
    meta_login_ttl_s: int = 600
    """How long a "Connect with Facebook" link stays valid (it works once)."""
    meta_assets_ttl_s: int = 1800
    """How long what Facebook granted is kept (encrypted) for the owner to pick from."""
    signup_enabled: bool = True
    """Whether anyone may create a business with ``POST /v1/signup``."""
    session_ttl_s: int = 30 * 24 * 3600
    """How long a login session lasts."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted (Meta batches can exceed 300 KB)."""
    graph_base_url: str = "https://graph.facebook.com/v25.0"
    """Graph API base URL, version included."""
    viber_base_url: str = "https://chatapi.viber.com/pa"
    """Viber REST bot API base URL."""
    viber_sender_name: str = ""
    """Sender name shown on Viber replies (defaults to the channel's name)."""
    send_attempts: int = 4
    """Attempts per send when the platform fails transiently."""
    send_timeout_s: float = 15.0
    """Time limit for one platform API call."""
    heartbeat_s: float = 20.0
    """How often an idle stream is pinged."""
    heartbeat_timeout_s: float = 60.0
    """A stream peer silent for this long is closed."""
    stream_page: int = 256
    """Events read from the log per page while replaying."""
    dedupe_ttl_s: int = 7 * 24 * 3600
    """How long a platform message id (and a send's idempotency key) is remembered."""
    retention_days: int = 7
    """Days an event acknowledged by every device of its business is kept after it was stored."""
    unacked_max_days: int = 30
    """Days after which an event no device acknowledged is dropped anyway (logged as a warning)."""
    retention_interval_s: float = 600.0
    """How often retention runs (also once at start); 0 turns the background task off."""
    retention_batch: int = 500
    """Rows retention deletes per transaction, so other writes never wait long behind it."""
    away_sweep_s: float = 30.0
    """How often each process looks for away replies a dying process left unsent; 0: never."""
    health_interval_s: float = 86400.0
    """How often every channel's token and webhook subscription are checked; 0 turns it off."""
    health_flush_s: float = 30.0
    """How often each channel's last event and last send, noted in memory, are saved."""
    operator_name: str = ""
    """Who runs this relay (the data controller named on ``/privacy``)."""
    operator_email: str = ""
    """Where people write about their data (shown on ``/privacy`` and ``/data-deletion``)."""
    operator_address: str = ""
    """The operator's postal address, shown on ``/privacy``."""
    privacy_extra: str = ""
    """Extra privacy-policy text (plain text; blank lines separate paragraphs)."""
    login_rate_per_minute: int = 20
    """Login and sign-up attempts allowed per client address per minute."""
    password_memory_kib: int = 19 * 1024
    """Argon2id memory cost (OWASP's minimum); lowered only in tests."""
    password_iterations: int = 2
    """Argon2id time cost."""
    ai_upstream_url: str = ""
    """OpenAI-compatible base URL the AI gateway forwards to (empty: gateway off)."""
    ai_upstream_key: str = ""
    """The operator's key for the AI upstream; never shown to a desktop."""
    ai_timeout_s: float = 60.0
    """Time limit for one upstream AI call."""
    ai_prices: str = ""
    """JSON ``{"model": [input, output]}`` in USD per million tokens (added to the defaults)."""
    plans: str = ""
    """JSON ``{"plan": {"outbound_messages": N, "ai_tokens": N, "ai_cost_usd": X}}``, 0 = none."""
    default_plan: str = "free"
    """The plan every business is on unless the operator sets another."""
    log_level: str = "INFO"
    """Python log level name."""
    log_json: bool = True
    """Structured JSON log lines (False: plain text for a terminal)."""
    extra: dict[str, str] = field(default_factory=dict)
    """Unrecognised ``CLIENTORA_RELAY_*`` variables, kept to warn about typos."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CLIENTORA_RELAY_*`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls) if f.name != "extra"}
        extra: dict[str, str] = {}
        for key, raw in env.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key.removeprefix(ENV_PREFIX).lower()
            spec = known.get(name)
            if spec is None:
                extra[key] = "?"
                continue
            values[name] = _convert(raw, spec.type, key)
        values.update(overrides)
        return cls(**values, extra=extra)

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


def _convert(raw: str, type_name: Any, key: str) -> Any:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
    except ValueError:
        raise ValueError(f"{key}: cannot read {raw!r} as {kind}") from None
    return raw
