"""Shared fixtures: settings, a fresh migrated database per test (SQLite file and
PostgreSQL), and factories for registry rows and queue items.

PostgreSQL tests use ``LANDKORT_TEST_DATABASE_URL`` (``.ci/run`` sets it to
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``). Each test gets its own schema,
dropped afterwards. Without the variable the PostgreSQL cases are skipped — unless
``LANDKORT_TEST_REQUIRE_ALL=1`` (CI), where a missing service is a failure, not a skip.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.core.db import Database
from bot.core.migrate import upgrade
from bot.core.settings import Settings, load_settings
from bot.registry.models import Initiative
from bot.registry.repository import create_initiative
from moderation.models import Submission
from moderation.states import INITIAL_STATES
from moderation.submissions import create_submission, move

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL_ENV = "LANDKORT_TEST_DATABASE_URL"


def require_all() -> bool:
    """True in CI: services the suite needs must be there (no silent skips)."""
    return os.environ.get("LANDKORT_TEST_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    if require_all():
        pytest.fail(f"{reason} (LANDKORT_TEST_REQUIRE_ALL=1)")
    pytest.skip(reason)


def pg_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a test: data in tmp_path, a secret, nothing external enabled."""
    return load_settings(environ={}, data_dir=str(tmp_path / "var"),
                         secret_key="test-secret-key-0123456789abcdef",
                         base_url="http://127.0.0.1:8080", mail_domain="example.org")


async def _sqlite_db(tmp_path: Path) -> Database:
    # LANDKORT_TEST_SQLITE_DRIVER=aiosqlite runs the SQLite tests through the fallback
    # driver (make test-aiosqlite, CI); the default is the loop-thread driver.
    inline = os.environ.get("LANDKORT_TEST_SQLITE_DRIVER", "inline") != "aiosqlite"
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", sqlite_inline=inline)
    await upgrade(db)
    return db


class PgSchema:
    """A throw-away PostgreSQL schema with a Database bound to it via search_path."""

    def __init__(self, base_url: str, revision: str = "head") -> None:
        self.base_url = base_url
        self.revision = revision
        self.schema = f"t_{uuid.uuid4().hex[:16]}"

    async def __aenter__(self) -> Database:
        admin = create_async_engine(self.base_url)
        try:
            async with admin.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        except Exception as exc:  # noqa: BLE001
            await admin.dispose()
            skip_or_fail(f"PostgreSQL at {self.base_url} is not usable: {exc}")
        await admin.dispose()
        self.db = Database(self.base_url, connect_args={
            "server_settings": {"search_path": self.schema}})
        await upgrade(self.db, self.revision)
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        await self.db.dispose()
        admin = create_async_engine(self.base_url)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database of ``kind`` ("sqlite" or "postgres"), disposed after."""
    if kind == "sqlite":
        database = await _sqlite_db(tmp_path)
        try:
            yield database
        finally:
            await database.dispose()
        return
    url = pg_url()
    if url is None:
        skip_or_fail(f"{PG_URL_ENV} is not set")
    async with PgSchema(url) as database:
        yield database


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated database — once on an SQLite file, once on PostgreSQL."""
    async with fresh_database(request.param, tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated SQLite database (for tests that need only the embedded one)."""
    async with fresh_database("sqlite", tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def pg_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh, migrated PostgreSQL schema (for PostgreSQL-only tests)."""
    async with fresh_database("postgres", tmp_path) as database:
        yield database


def sample_record(**overrides: Any) -> dict[str, Any]:
    """A complete, valid initiative record under canonical keys."""
    record: dict[str, Any] = {
        "title": "Telemedicinsk hjemmemonitorering af KOL",
        "description": "Borgere med KOL måler iltmætning og puls hjemme; data ses af "
                       "sygeplejersker i kommunen og på sygehuset.",
        "status": "i_drift",
        "participants": ["kommune", "sygehus"],
        "regions": ["nordjylland"],
        "municipalities": ["Aalborg", "Hjørring"],
        "organisation": "Region Nordjylland",
        "patient_groups": ["KOL"],
        "technology": ["Tablet", "Pulsoximeter"],
        "start_date": "2019-03-01",
        "end_date": None,
        "contact_name": "Mette Jensen",
        "contact_email": "mette.jensen@example.dk",
        "contact_phone": "+4512345678",
        "evaluation_url": "https://example.dk/evaluering-kol.pdf",
        "website": "https://example.dk/kol",
    }
    record.update(overrides)
    return record


MakeInitiative = Callable[..., Awaitable[Initiative]]
MakeSubmission = Callable[..., Awaitable[Submission]]


@pytest.fixture
def make_initiative(db: Database) -> MakeInitiative:
    """Factory: ``await make_initiative(title=…, …)`` creates an entry (version 1)."""
    counter = {"n": 0}

    async def factory(database: Database | None = None, **overrides: Any) -> Initiative:
        counter["n"] += 1
        if "contact_email" not in overrides:
            overrides["contact_email"] = f"kontakt{counter['n']}@example.dk"
        async with (database or db).write() as session:
            return await create_initiative(session, sample_record(**overrides),
                                           actor="test", channel="import")
    return factory


@pytest.fixture
def make_submission(db: Database) -> MakeSubmission:
    """Factory: ``await make_submission(initiative=…, kind="update", proposed={…})``;
    ``state=`` any state of :mod:`moderation.states`."""

    async def factory(database: Database | None = None, *, kind: str = "update",
                      channel: str = "email", proposed: dict[str, Any] | None = None,
                      initiative: Initiative | None = None, **kw: Any) -> Submission:
        async with (database or db).write() as session:
            if initiative is not None:
                initiative = await session.get(Initiative, initiative.id)
            # A submission starts unverified or pending; a later state is reached the
            # way the product reaches it, along the state machine (moderation.states).
            state = kw.pop("state", "pending")
            sub = await create_submission(
                session, kind=kind, channel=channel, proposed=proposed or {},
                initiative=initiative, sender_email=kw.pop("sender_email",
                                                           "afsender@example.dk"),
                state=state if state in INITIAL_STATES else "pending", **kw)
            assert sub is not None
            if state not in INITIAL_STATES:
                sub = await move(session, sub.id, "test", state, from_states=("pending",))
            return sub
    return factory
