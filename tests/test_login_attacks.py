"""Login under attack (SQLite and PostgreSQL): parallel guessing gets no more password
checks than the limit, a guesser elsewhere cannot lock the real moderator out, and the
argon2 check never runs on the event loop."""
from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from moderation import accounts
from moderation.web.security import ACCOUNT_FACTOR, DEVICE_COOKIE
from tests.moderation_support import PASSWORD, add_user, csrf_of, use_fast_hashes

Client = TestClient[Any, Any]


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_hashes(monkeypatch)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the password checks (the real argon2 verify runs) and the thread each ran on."""
    seen: list[str] = []
    real = accounts._verify

    def counted(password_hash: str, password: str) -> bool:
        seen.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", counted)
    return seen


@pytest_asyncio.fixture
async def server(db: Database, settings: Settings) -> AsyncIterator[TestServer]:
    await add_user(db, "anna")
    # The test client is the "proxy"; X-Forwarded-For names the client it speaks for.
    app = create_app(settings.replace(trusted_proxies="127.0.0.1"), db,
                     components=("moderation.web.routes",), start_workers=False)
    async with TestServer(app) as srv:
        yield srv


async def attempt(http: ClientSession, srv: TestServer, password: str, *,
                  addr: str = "203.0.113.7", user: str = "anna") -> int:
    headers = {"X-Forwarded-For": addr}
    async with http.get(srv.make_url("/login"), headers=headers) as resp:
        token = csrf_of(await resp.text())
    async with http.post(srv.make_url("/login"), headers=headers, allow_redirects=False,
                         data={"csrf_token": token, "username": user,
                               "password": password}) as resp:
        return resp.status


def browser() -> ClientSession:
    return ClientSession(cookie_jar=CookieJar(unsafe=True))


@pytest.mark.asyncio
async def test_parallel_guesses_get_no_more_checks_than_the_limit(
        server: TestServer, settings: Settings, checks: list[str]) -> None:
    async with browser() as http:
        statuses = await asyncio.gather(*(attempt(http, server, f"guess {i}")
                                          for i in range(60)))
    assert len(checks) == settings.login_max_failures, len(checks)
    assert statuses.count(401) == settings.login_max_failures
    assert statuses.count(429) == 60 - settings.login_max_failures


@pytest.mark.asyncio
async def test_the_password_check_runs_off_the_event_loop(
        server: TestServer, checks: list[str]) -> None:
    async with browser() as http:
        assert await attempt(http, server, PASSWORD) == 303
    assert checks and all(name != threading.main_thread().name for name in checks)


@pytest.mark.asyncio
async def test_guessers_elsewhere_cannot_lock_the_moderator_out(
        server: TestServer, settings: Settings) -> None:
    async with browser() as anna:
        # Anna logged in from her own browser once: it carries the signed device mark.
        assert await attempt(anna, server, PASSWORD, addr="198.51.100.1") == 303
        assert any(c.key == DEVICE_COOKIE for c in anna.cookie_jar)
        # Attackers from many addresses: each address soon throttled, then the account.
        async with browser() as attacker:
            limit = settings.login_max_failures * ACCOUNT_FACTOR
            for i in range(limit + 3):
                await attempt(attacker, server, "guess", addr=f"192.0.2.{i % 30}")
            # A new browser — even with the right password — now waits out the lockout…
            assert await attempt(attacker, server, PASSWORD, addr="192.0.2.200") == 429
        # …but Anna's browser gets in, from her own address.
        assert await attempt(anna, server, PASSWORD, addr="198.51.100.1") == 303


@pytest.mark.asyncio
async def test_five_failures_from_one_address_do_not_lock_the_account(
        server: TestServer, settings: Settings) -> None:
    async with browser() as attacker:
        for _ in range(settings.login_max_failures):
            assert await attempt(attacker, server, "guess", addr="192.0.2.1") == 401
        assert await attempt(attacker, server, PASSWORD, addr="192.0.2.1") == 429
    async with browser() as anna:  # a new browser, another address: not locked out
        assert await attempt(anna, server, PASSWORD, addr="198.51.100.1") == 303


@pytest.mark.asyncio
async def test_an_office_behind_one_address_is_not_throttled_by_its_own_logins(
        server: TestServer, settings: Settings) -> None:
    for _ in range(settings.login_max_failures + 2):
        async with browser() as colleague:
            assert await attempt(colleague, server, PASSWORD, addr="198.51.100.9") == 303
    async with browser() as guesser:  # failures from the address still count
        for _ in range(settings.login_max_failures):
            assert await attempt(guesser, server, "guess", addr="198.51.100.9") == 401
        assert await attempt(guesser, server, PASSWORD, addr="198.51.100.9") == 429
