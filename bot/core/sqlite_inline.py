"""SQLite on the event loop's own thread, for SQLAlchemy's ``sqlite+aiosqlite`` dialect.

Why this exists: aiosqlite runs every call (cursor, execute, fetchall, close, commit) in
a helper thread and hands the result back through the event loop — three or four
cross-thread wake-ups per statement. Measured here (``benchmarks/db_driver.py``) that is
about 300 µs per statement, against 3 µs for the same statement through :mod:`sqlite3`
directly: the intake processor spent most of its time waiting on those hand-offs, not in
SQLite. Landkort's SQLite work is small, indexed statements on a local WAL file, so the
statements themselves take microseconds and can run on the loop thread without holding
it up.

What does block in SQLite is waiting for another connection's write lock — SQLite's busy
handler sleeps inside the C call. So this module does that waiting itself: a statement
that may be retried — one outside a transaction (``BEGIN IMMEDIATE`` above all) or a
``COMMIT`` — runs with ``busy_timeout = 0`` and, on ``SQLITE_BUSY``, is retried after an
``asyncio.sleep`` with backoff, up to ``busy_seconds``. The event loop keeps serving IMAP,
LMTP and the web while a writer waits. Inside a transaction SQLite says a busy statement
must not simply be retried (https://sqlite.org/rescode.html#busy); there the connection's
short backstop timeout (``IN_TRANSACTION_BUSY_MS``, for the rare WAL cases such as
recovery after a crash) applies and then the error is raised like any other. A write
transaction started with ``BEGIN IMMEDIATE`` already holds the lock, so its own
statements do not wait.

The shim implements the slice of aiosqlite's ``Connection``/``Cursor`` interface that
SQLAlchemy's adapter (``sqlalchemy.dialects.sqlite.aiosqlite``) calls, and is plugged in
with ``create_async_engine(..., async_creator=...)``: the dialect, its type handling and
SQLAlchemy's own tests stay as they are.
"""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

BUSY_FIRST_DELAY = 0.001
BUSY_MAX_DELAY = 0.05
IN_TRANSACTION_BUSY_MS = 100


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # Only plain SQLITE_BUSY (another connection holds the lock), never the extended
    # SQLITE_BUSY_SNAPSHOT a stale read snapshot gets: retrying that cannot succeed.
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return bool(name == "SQLITE_BUSY")
    return "database is locked" in str(exc).lower()


class InlineCursor:
    """An aiosqlite-style cursor whose coroutines finish without yielding (except when
    waiting for a lock)."""

    def __init__(self, owner: InlineConnection) -> None:
        self._owner = owner
        self._cursor = owner._conn.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await self._owner._run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        await self._owner._run(self._cursor.executemany, sql, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


class InlineConnection:
    """An aiosqlite-style connection over a :class:`sqlite3.Connection` used on the
    loop thread."""

    def __init__(self, conn: sqlite3.Connection, *, busy_seconds: float) -> None:
        self._conn = conn
        self.busy_seconds = busy_seconds

    # SQLAlchemy's adapter checks ``_connection`` before commit/rollback (aiosqlite's
    # name for the wrapped connection; None once closed).
    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def _run(self, fn: Callable[..., Any], *args: Any, commit: bool = False) -> Any:
        """Call ``fn``; on SQLITE_BUSY where a retry is allowed, sleep and try again."""
        if self._conn.in_transaction and not commit:  # see the module docstring
            return fn(*args)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.busy_seconds
        delay = BUSY_FIRST_DELAY
        while True:
            self._conn.execute("PRAGMA busy_timeout=0")
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or loop.time() >= deadline:
                    raise
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={IN_TRANSACTION_BUSY_MS}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, BUSY_MAX_DELAY)

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineCursor:
        cur = self.cursor()
        return await cur.execute(sql, parameters)

    async def commit(self) -> None:
        await self._run(self._conn.commit, commit=True)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate when a connection is invalidated)."""
        self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)


def inline_creator(path: str, *, busy_seconds: float,
                   pragmas: Sequence[str] = ()) -> Callable[[], Any]:
    """An ``async_creator`` for :func:`sqlalchemy.ext.asyncio.create_async_engine`.

    Connections start in autocommit mode (``isolation_level=None``: SQLAlchemy's begin
    event issues ``BEGIN``/``BEGIN IMMEDIATE`` itself; lock waits outside a transaction
    are done here, asynchronously) and then run ``pragmas``.
    """

    async def create() -> InlineConnection:
        # check_same_thread=False: SQLAlchemy may close a pooled connection from the
        # garbage collector; all use is serialised by the adapter's mutex.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        wrapped = InlineConnection(conn, busy_seconds=busy_seconds)
        for pragma in pragmas:
            await wrapped._run(conn.execute, pragma)
        return wrapped

    return create


__all__ = ["InlineConnection", "InlineCursor", "inline_creator"]
