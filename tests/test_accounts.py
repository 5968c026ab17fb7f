"""Moderator accounts: argon2id hashes, login checks, the CLI, the demo login."""
from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from bot.cli import main
from bot.core.db import Database
from bot.core.settings import Settings
from moderation import accounts
from moderation.accounts import (
    AccountError,
    authenticate,
    create_user,
    ensure_demo_moderator,
    get_user,
    set_disabled,
    set_password,
)
from moderation.models import WebSession
from moderation.web.security import create_session, load_session

PW = "a long enough password"


@pytest.mark.asyncio
async def test_create_and_authenticate(db: Database) -> None:
    await create_user(db, "anna", PW, email="anna@medcom.dk")
    async with db.read() as session:
        user = await get_user(session, "anna")
    assert user is not None and user.role == "moderator"
    assert user.password_hash.startswith("$argon2id$") and PW not in user.password_hash
    who = await authenticate(db, "anna", PW)
    assert who is not None and who.username == "anna" and not who.is_admin
    assert await authenticate(db, "anna", PW + "x") is None
    assert await authenticate(db, "nobody", PW) is None
    with pytest.raises(AccountError):
        await create_user(db, "anna", PW)
    with pytest.raises(AccountError):
        await create_user(db, "bo", "short")
    with pytest.raises(AccountError):
        await create_user(db, "bo", PW, role="root")


@pytest.mark.asyncio
async def test_disabled_accounts_cannot_log_in_and_lose_sessions(
        db: Database, settings: Settings) -> None:
    await create_user(db, "anna", PW)
    who = await authenticate(db, "anna", PW)
    assert who is not None
    cookie, _ = await create_session(db, settings, who)
    assert await load_session(db, cookie) is not None
    await set_disabled(db, "anna")
    assert await authenticate(db, "anna", PW) is None
    assert await load_session(db, cookie) is None
    await set_disabled(db, "anna", False)
    assert await authenticate(db, "anna", PW) is not None


@pytest.mark.asyncio
async def test_new_password_ends_sessions(db: Database, settings: Settings) -> None:
    await create_user(db, "anna", PW)
    who = await authenticate(db, "anna", PW)
    assert who is not None
    await create_session(db, settings, who)
    await set_password(db, "anna", "another long password")
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0
    assert await authenticate(db, "anna", PW) is None
    assert await authenticate(db, "anna", "another long password") is not None


@pytest.mark.asyncio
async def test_hash_is_upgraded_when_parameters_change(db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", weak)
    await create_user(db, "anna", PW)
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher())
    async with db.read() as session:
        before = (await get_user(session, "anna")).password_hash  # type: ignore[union-attr]
    assert "m=8192" in before
    assert await authenticate(db, "anna", PW) is not None
    async with db.read() as session:
        after = (await get_user(session, "anna")).password_hash  # type: ignore[union-attr]
    assert after != before and "m=8192" not in after
    assert await authenticate(db, "anna", PW) is not None


@pytest.mark.asyncio
async def test_demo_moderator_gets_a_fresh_password_each_start(db: Database) -> None:
    name, first = await ensure_demo_moderator(db)
    assert first and await authenticate(db, name, first) is not None
    name2, second = await ensure_demo_moderator(db)
    assert name2 == name and second and second != first
    assert await authenticate(db, name, first) is None
    who = await authenticate(db, name, second)
    assert who is not None and who.is_admin


def test_cli_user_add_passwd_disable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LANDKORT_DATABASE_URL", url)
    monkeypatch.setenv("LANDKORT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LANDKORT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return main(list(argv))

    assert run("user", "add", "anna", "--role", "admin", "--email", "a@medcom.dk",
               "--password-stdin", stdin=PW + "\n") == 0
    assert run("user", "add", "anna", "--password-stdin", stdin=PW + "\n") == 1
    assert "exists already" in capsys.readouterr().err
    assert run("user", "passwd", "anna", "--password-stdin",
               stdin="the new long password\n") == 0
    assert run("user", "disable", "anna") == 0
    assert run("user", "list") == 0
    out = capsys.readouterr().out
    assert "anna\tadmin\tdisabled" in out

    async def check() -> None:
        db = Database(url)
        try:
            assert await authenticate(db, "anna", "the new long password") is None  # disabled
            await set_disabled(db, "anna", False)
            assert await authenticate(db, "anna", "the new long password") is not None
        finally:
            await db.dispose()
    asyncio.run(check())
