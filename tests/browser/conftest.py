"""Shared fixtures for browser tests: the full app on a free port and headless Chromium.

* ``live_app`` — the whole app (every component, workers running with the test settings:
  nothing external enabled) on a free loopback port with a fresh SQLite database;
  ``live_app.url``, ``live_app.db``, ``live_app.settings``.
* ``base_url`` — just ``live_app.url``.
* ``browser`` — Debian's Chromium through Playwright's async API (skipped, or failed
  with LANDKORT_TEST_REQUIRE_ALL=1, when /usr/bin/chromium is missing).
* ``page`` — a fresh browser context and page; ``page.dialogs`` collects the text of
  any alert/confirm/prompt (they are accepted), so tests can prove no script ran.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import web

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveApp:
    url: str
    db: Database
    settings: Settings


@asynccontextmanager
async def serve_live(settings: Settings, db: Database, **overrides: Any
                     ) -> AsyncIterator[LiveApp]:
    """Run the full app (all components, workers on) on a free port until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    live_settings = settings.replace(base_url=base, http_port=port, **overrides)
    runner = web.AppRunner(create_app(live_settings, db), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield LiveApp(base, db, live_settings)
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def live_app(settings: Settings, sqlite_db: Database) -> AsyncIterator[LiveApp]:
    """The full app on a free port (workers run; nothing external is enabled)."""
    async with serve_live(settings, sqlite_db) as live:
        yield live


@pytest_asyncio.fixture
async def sandbox_app(settings: Settings, sqlite_db: Database) -> AsyncIterator[LiveApp]:
    """The full app as in the demo's mail path: the outbox sender delivers to the mail
    sandbox's SMTP server, and /sandbox lists what was sent (free ports throughout)."""
    smtp_port = free_port()
    async with serve_live(settings, sqlite_db, sandbox_enabled=True,
                          sandbox_smtp_port=smtp_port, sandbox_imap_port=free_port(),
                          smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=smtp_port,
                          smtp_security="plain") as live:
        yield live


@pytest_asyncio.fixture
async def base_url(live_app: LiveApp) -> str:
    return live_app.url


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("playwright is not installed")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(locale="da-DK")
    pg = await context.new_page()
    pg.set_default_timeout(15_000)
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    pg.on("dialog", on_dialog)
    pg.dialogs = dialogs
    try:
        yield pg
    finally:
        await context.close()


async def sent_mail(app: LiveApp, kind: str, *, tries: int = 100) -> Any:
    """The first outbox row of ``kind`` once the live app's sender has delivered it over
    SMTP (polls the database; fails the test when it never goes)."""
    from sqlalchemy import select

    from bot.mail.models import OutboxMessage

    mail = None
    for _ in range(tries):
        async with app.db.read() as session:
            mail = await session.scalar(select(OutboxMessage).where(
                OutboxMessage.kind == kind).order_by(OutboxMessage.id))
        if mail is not None and mail.state == "sent":
            return mail
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} mail went out over SMTP: {mail and mail.state}")
