"""Database access: engines, sessions and the one place transactions are opened.

Repository functions take a :class:`Database` and open their own transaction with
:meth:`Database.write` (or :meth:`Database.read`); nothing else commits. On SQLite every
connection gets WAL, a busy timeout and foreign keys, and write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing half-way with
"database is locked" when a read transaction tries to upgrade. Callers must never hold a
write transaction across network I/O: read or claim, commit, talk to the network, then
record the result in a new transaction.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, MetaData, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached

from bot.core.sqlite_inline import inline_creator

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Every SQLite connection: WAL (readers never block the writer), foreign keys, and
# synchronous=NORMAL — in WAL mode a commit survives a crash of the process (kill -9);
# only a power cut can lose the last commits.
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=ON",
                  "PRAGMA synchronous=NORMAL")

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table in landkort."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


def utcnow() -> datetime:
    """Timezone-aware now in UTC. Stored columns are naive UTC (see :func:`to_db`)."""
    return datetime.now(UTC)


def to_db(moment: datetime) -> datetime:
    """Naive UTC for storage: SQLite has no time zones, so every column is naive UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def dbnow() -> datetime:
    """Now as stored in the database (naive UTC)."""
    return to_db(utcnow())


class IncompleteSchema(RuntimeError):
    """A table's foreign key names a table no imported module defined."""


def require_complete_schema() -> None:
    """Fail at start, not at the first flush, when the process loaded only part of the
    schema: every foreign key must name a table in ``Base.metadata``. The entry points
    (:mod:`bot.cli`, :mod:`bot.app`, Alembic's env and the tests) import
    :mod:`bot.schema`, which loads every table; this core module cannot import it
    without pointing upward."""
    tables = Base.metadata.tables
    missing = sorted({f"{table.name} -> {fk.target_fullname}"
                      for table in tables.values() for fk in table.foreign_keys
                      if fk.target_fullname.split(".")[0] not in tables})
    if missing:
        raise IncompleteSchema("tables are missing (import bot.schema first): "
                               + ", ".join(missing))


class Database:
    """Engines and session factories for one database URL.

    ``read()`` and ``write()`` are async context managers yielding an :class:`AsyncSession`
    inside a transaction that commits on success and rolls back on error.
    """

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5,
                 connect_args: dict[str, Any] | None = None,
                 sqlite_inline: bool = True) -> None:
        require_complete_schema()
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.is_postgres = parsed.get_backend_name() == "postgresql"
        args = dict(connect_args or {})
        self.connect_args = dict(args)
        self.pool_size = pool_size
        self.sqlite_inline = sqlite_inline
        self.inline = False
        if self.is_sqlite:
            on_disk = bool(parsed.database) and parsed.database != ":memory:"
            if on_disk:
                Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
            args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
            # A file database runs its statements on the loop thread (see
            # bot.core.sqlite_inline for why and how lock waits stay asynchronous); an
            # in-memory one keeps aiosqlite's thread.
            self.inline = sqlite_inline and on_disk
            self.engine = self._sqlite_engine(url, parsed.database, echo, args)
            # A second engine on the same file whose transactions begin IMMEDIATE.
            self.write_engine = self._sqlite_engine(url, parsed.database, echo, args)
            self._configure_sqlite(self.engine, begin="BEGIN", inline=self.inline)
            self._configure_sqlite(self.write_engine, begin="BEGIN IMMEDIATE",
                                   inline=self.inline)
        else:
            self.engine = create_async_engine(url, echo=echo, pool_size=pool_size,
                                              max_overflow=pool_size, pool_pre_ping=True,
                                              connect_args=args)
            self.write_engine = self.engine
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    def clone(self) -> Database:
        """Another Database on the same URL with its own connection pools — what a
        second process would have (tests of several instances use it)."""
        return Database(self.url, connect_args=self.connect_args, pool_size=self.pool_size,
                        sqlite_inline=self.sqlite_inline)

    def _sqlite_engine(self, url: str, database: str | None, echo: bool,
                       args: dict[str, Any]) -> AsyncEngine:
        if not self.inline or database is None:
            return create_async_engine(url, echo=echo, connect_args=args)
        creator = inline_creator(database, busy_seconds=float(args["timeout"]),
                                 pragmas=SQLITE_PRAGMAS)
        return create_async_engine(url, echo=echo, async_creator=creator)

    @staticmethod
    def _configure_sqlite(engine: AsyncEngine, *, begin: str, inline: bool) -> None:
        sync_engine = engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            if inline:  # set up by inline_creator, which also owns the lock waits
                return
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            for pragma in SQLITE_PRAGMAS:
                cur.execute(pragma)
            cur.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
        async with self._write() as session:
            async with session.begin():
                yield session

    @asynccontextmanager
    async def write_core(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a bare connection, for hot paths that run a few Core
        statements (the sender's bookkeeping): no ORM session to set up and tear down."""
        async with self.write_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read transaction, ended (rolled back) when the block ends. Loaded objects
        stay readable afterwards (closing a session does not expire them)."""
        async with self._read() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()

    async def wait_until_reachable(self, *, attempts: int = 0, delay: float = 1.0,
                                   max_delay: float = 30.0) -> None:
        """Wait (with backoff) until the database answers; ``attempts=0`` waits forever."""
        from sqlalchemy import text

        n = 0
        while True:
            n += 1
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                return
            except (OSError, OperationalError, DBAPIError) as exc:
                if attempts and n >= attempts:
                    raise
                log.warning("database not reachable (%s); retrying in %.0fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)


def insert_for(session: AsyncSession | AsyncConnection, table: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the session's database (SQLite ≥ 3.35
    and PostgreSQL share the syntax; SQLAlchemy has one construct per dialect)."""
    bind = session.get_bind() if isinstance(session, AsyncSession) else session
    insert_fn: Any = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    return insert_fn(table)


# ``session.info[REGISTRY_UNCHANGED] = {}`` says: this transaction adds no entries and
# changes no terms (intake never does: nothing from mail reaches the registry without a
# moderator; a bounce or an opt-out only flags an entry's contact). The term index and
# the duplicate index's check for new entries then run once per transaction instead of
# once per message (bot.registry.terms, bot.registry.duplicates).
REGISTRY_UNCHANGED = "landkort.registry_unchanged"

# Hot write paths (intake writes a queue item, an audit event, a token, an answer and a
# rate-limit count per mail) run statements built once, with the values as parameters:
# building ``insert(Entity).values(**values)`` per call coerces every value and computes a
# new cache key, which cost more than executing the statement (#18).
_PREBUILT: dict[tuple[str, str], Any] = {}


def prebuilt(session: AsyncSession, key: str, build: Callable[[Any], Any]) -> Any:
    """The statement ``build(insert)`` for the session's dialect, built once per dialect
    and ``key`` (``insert`` is that dialect's, with ``ON CONFLICT``)."""
    name = session.get_bind().dialect.name
    stmt = _PREBUILT.get((name, key))
    if stmt is None:
        stmt = _PREBUILT[(name, key)] = build(
            pg_insert if name == "postgresql" else sqlite_insert)
    return stmt


async def execute_prebuilt(session: AsyncSession, stmt: Any,
                           params: Mapping[str, Any]) -> Any:
    """Run a prebuilt Core statement in the caller's transaction, after the session's
    pending ORM changes (they come first, in order, as an ORM statement would have them:
    a Core statement does not flush by itself)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return await session.execute(stmt, dict(params))


def attach_row(session: AsyncSession, entity: type[Any], row: Any) -> Any:
    """An ORM object for a row a Core ``INSERT … RETURNING`` gave back (every column),
    put in the session as if it had been loaded: no second SELECT."""
    table = entity.__table__
    mapper = entity.__mapper__
    obj = entity()
    for column in table.columns:
        setattr(obj, mapper.get_property_by_column(column).key, row._mapping[column])
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def is_transient_db_error(exc: BaseException) -> bool:
    """True for errors a retry can cure (connection lost, lock timeout, serialization)."""
    if isinstance(exc, (OSError, ConnectionError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
        return any(s in text for s in ("database is locked", "could not serialize",
                                       "deadlock", "connection", "terminating"))
    return False
