"""Shared fixtures: settings, a fresh migrated database per test (SQLite file and
PostgreSQL), and factories for registry rows and queue items.

PostgreSQL tests use ``LANDKORT_TEST_DATABASE_URL`` (``.ci/run`` sets it to
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``). Each test gets its own schema,
dropped afterwards. Without the variable the PostgreSQL cases are skipped — unless
``LANDKORT_TEST_REQUIRE_ALL=1`` (CI), where a missing service is a failure, not a skip.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
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
from tests.postgres import admin as pg_admin
from tests.postgres import database_url as pg_database_url

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


def _migrations_stamp() -> str:
    """A digest of the migration scripts: a template made from other scripts is stale."""
    versions = Path(__file__).resolve().parents[1] / "bot" / "migrations" / "versions"
    digest = hashlib.sha256()
    for script in sorted(versions.glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return digest.hexdigest()[:12]


# Each fresh database is a copy of one migrated at the start of the run (the migrations
# run once per process and kind, not once per test: 0.2 s on SQLite and 0.7 s on
# PostgreSQL each time). The migrations themselves are tested on their own
# (tests/test_registry.py, tests/test_migration_lock.py, tests/test_vocabularies.py).
_SQLITE_TEMPLATE: dict[str, Path] = {}


async def _sqlite_template() -> Path:
    if "path" not in _SQLITE_TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="landkort-template-"))
        path = folder / "template.db"
        db = Database(f"sqlite+aiosqlite:///{path}", sqlite_inline=True)
        await upgrade(db)
        await db.dispose()  # the last connection checkpoints the WAL into the main file
        _SQLITE_TEMPLATE["path"] = path
    return _SQLITE_TEMPLATE["path"]


async def _sqlite_db(tmp_path: Path) -> Database:
    # LANDKORT_TEST_SQLITE_DRIVER=aiosqlite runs the SQLite tests through the fallback
    # driver (make test-aiosqlite, CI); the default is the loop-thread driver.
    inline = os.environ.get("LANDKORT_TEST_SQLITE_DRIVER", "inline") != "aiosqlite"
    shutil.copyfile(await _sqlite_template(), tmp_path / "test.db")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", sqlite_inline=inline)
    await upgrade(db)  # at head already: one read of the version table
    return db


_PG_TEMPLATE: dict[str, str] = {}


async def _pg_template(base_url: str) -> str:
    """The name of a database migrated to head, made once (under an advisory lock, so
    concurrent runs make it once too) and named after the migrations it ran; older
    templates are dropped."""
    if base_url in _PG_TEMPLATE:
        return _PG_TEMPLATE[base_url]
    name = f"landkort_template_{_migrations_stamp()}"
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(4242001)"))
            try:
                existing = set((await conn.execute(text(
                    "SELECT datname FROM pg_database WHERE datname LIKE "
                    "'landkort\\_template\\_%'"))).scalars())
                if name not in existing:
                    for old in existing:
                        await conn.execute(text(f'DROP DATABASE "{old}" WITH (FORCE)'))
                    building = f"{name}_building"
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{building}"'))
                    await conn.execute(text(f'CREATE DATABASE "{building}"'))
                    db = Database(pg_database_url(base_url, building))
                    await upgrade(db)
                    await db.dispose()
                    await conn.execute(text(f'ALTER DATABASE "{building}" RENAME TO "{name}"'))
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(4242001)"))
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"PostgreSQL at {base_url} is not usable: {exc}")
    finally:
        await admin.dispose()
    _PG_TEMPLATE[base_url] = name
    return name


class PgDatabase:
    """A throw-away PostgreSQL database copied from the migrated template
    (``CREATE DATABASE … TEMPLATE``: ~40 ms instead of ~700 ms of migrations)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"landkort_test_{uuid.uuid4().hex[:16]}"

    async def __aenter__(self) -> Database:
        template = await _pg_template(self.base_url)
        await pg_admin(self.base_url,
                        f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
        self.db = Database(pg_database_url(self.base_url, self.name))
        return self.db

    async def __aexit__(self, *exc: object) -> None:
        await self.db.dispose()
        await pg_admin(self.base_url, f'DROP DATABASE "{self.name}" WITH (FORCE)')


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
    async with PgDatabase(url) as database:
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
