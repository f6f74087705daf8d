"""Backups as docs/deploy.md takes them: restored, the relay has every account and event."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import asyncpg
import httpx
import pytest

from common.events import MessageReceived
from common.protocol import EventFrame
from relay.webhooks.signatures import sign_meta
from tests.bench._relay_proc import PAGE_ID, relay_process, signed_up_with_page
from tests.needs import tool
from tests.pg import admin_dsn, pg_schema, unavailable, with_search_path
from tests.relay_helpers import APP_SECRET, Account, messenger_text, open_stream

PASSWORD = "correct horse battery"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _post(base_url: str, mids: list[str]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for mid in mids:
            body = json.dumps(messenger_text(PAGE_ID, "customer-1", mid, f"order {mid}")).encode()
            answer = http.post(
                "/webhooks/meta",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": sign_meta(body, APP_SECRET),
                },
            )
            assert answer.status_code == 200


async def _stored(account: Account) -> list[str]:
    """Every message id on the device's stream from the start."""
    mids: list[str] = []
    async with open_stream(account, cursor=0) as stream:
        seq = 0
        while seq < stream.welcome.head:
            frame = await stream.frame()
            if isinstance(frame, EventFrame):
                seq = frame.seq
                if isinstance(frame.event, MessageReceived) and frame.event.platform_id:
                    mids.append(frame.event.platform_id)
    return mids


def _check_restored(base_url: str, account: Account, email: str, mids: list[str]) -> None:
    """The owner can sign in on the restored relay and the device gets every event."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        login = http.post("/v1/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    account.base_url = base_url
    assert sorted(asyncio.run(_stored(account))) == sorted(mids)


def test_sqlite_online_backup_restores_every_account_and_event(tmp_path: Path) -> None:
    """``sqlite3 relay.db ".backup FILE"`` taken while the relay serves, copied back as the
    database of a fresh relay, holds the accounts and every stored webhook."""
    sqlite3 = tool("sqlite3")
    (tmp_path / "live").mkdir()
    (tmp_path / "restored").mkdir()
    live = relay_process(tmp_path / "live")
    live.start()
    try:
        email = f"owner-{secrets.token_hex(4)}@example.com"
        account = signed_up_with_page(live.url)
        _sign_up_known(live.url, email)  # an owner whose sign-in is tried after the restore
        mids = [f"m.sqlite.{n}" for n in range(20)]
        _post(live.url, mids)
        backup = tmp_path / "relay-backup.db"
        done = subprocess.run(
            [sqlite3, str(tmp_path / "live" / "relay.db"), f".backup '{backup}'"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        _post(live.url, ["m.after-backup"])
    finally:
        live.stop()

    shutil.copyfile(backup, tmp_path / "restored" / "relay.db")
    restored = relay_process(tmp_path / "restored")
    restored.start()
    try:
        _check_restored(restored.url, account, email, mids)
    finally:
        restored.stop()


def _sign_up_known(base_url: str, email: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        answer = http.post(
            "/v1/signup",
            json={"business_name": "Backup", "name": "Ana", "email": email, "password": PASSWORD},
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["business_id"])


@pytest.mark.postgres
async def test_pg_dump_and_pg_restore_round_trip_every_account_and_event(tmp_path: Path) -> None:
    """``pg_dump --format=custom`` of a serving relay's database, restored with
    ``pg_restore --no-owner`` into a new database, serves the same accounts and events."""
    pg_dump, pg_restore = tool("pg_dump"), tool("pg_restore")
    async with pg_schema() as dsn:
        schema = httpx.URL(dsn).params["search_path"]
        (tmp_path / "live").mkdir()
        (tmp_path / "restored").mkdir()
        live = relay_process(tmp_path / "live", database_url=dsn)
        await asyncio.to_thread(live.start)
        try:
            email = f"owner-{secrets.token_hex(4)}@example.com"
            account = await asyncio.to_thread(signed_up_with_page, live.url)
            await asyncio.to_thread(_sign_up_known, live.url, email)
            mids = [f"m.pg.{n}" for n in range(20)]
            await asyncio.to_thread(_post, live.url, mids)
            dump = tmp_path / "clientora.dump"
            done = await asyncio.to_thread(
                _run,
                pg_dump,
                "--format=custom",
                f"--schema={schema}",
                f"--file={dump}",
                admin_dsn(),
            )
            assert done.returncode == 0, done.stderr
        finally:
            live.stop()

        database = f"restore_{secrets.token_hex(5)}"
        admin = await asyncpg.connect(admin_dsn(), timeout=5)
        try:
            await admin.execute(f"CREATE DATABASE {database}")
        except asyncpg.PostgresError as exc:
            await admin.close()
            unavailable(f"cannot create a database to restore into: {exc}")
        target = str(httpx.URL(admin_dsn()).copy_with(path=f"/{database}"))
        try:
            done = await asyncio.to_thread(
                _run, pg_restore, "--no-owner", f"--dbname={target}", str(dump)
            )
            assert done.returncode == 0, done.stderr
            restored = relay_process(
                tmp_path / "restored", database_url=with_search_path(target, schema)
            )
            await asyncio.to_thread(restored.start)
            try:
                await asyncio.to_thread(_check_restored, restored.url, account, email, mids)
            finally:
                restored.stop()
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            await admin.close()
