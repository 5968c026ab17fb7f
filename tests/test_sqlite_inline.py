"""The loop-thread SQLite driver (bot.core.sqlite_inline): same results as aiosqlite, and a
writer waiting for another's lock waits asynchronously — the event loop keeps running."""
from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.core import sqlite_inline
from bot.core.db import Database
from bot.core.sqlite_inline import InlineConnection, inline_creator


@pytest.mark.asyncio
async def test_file_databases_run_inline_and_memory_ones_do_not(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    mem = Database("sqlite+aiosqlite:///:memory:")
    try:
        assert db.inline and not mem.inline
        assert db.clone().inline
        async with db.write_core() as conn:
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection)
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
        assert (mode, fks) == ("wal", 1)
    finally:
        await db.dispose()
        await mem.dispose()


@pytest.mark.asyncio
async def test_results_match_aiosqlite(tmp_path: Path) -> None:
    results = []
    for inline in (True, False):
        db = Database(f"sqlite+aiosqlite:///{tmp_path / f'{inline}.db'}", sqlite_inline=inline)
        try:
            async with db.write_core() as conn:
                await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)"))
                await conn.execute(text("INSERT INTO t (v, b) VALUES (:v, :b)"),
                                   [{"v": f"æøå {i}", "b": bytes([i])} for i in range(5)])
                got = await conn.execute(text("INSERT INTO t (v) VALUES ('x') RETURNING id"))
                new_id = got.scalar_one()
            async with db.read() as session:
                rows = (await session.execute(text("SELECT id, v, b FROM t ORDER BY id"))).all()
            results.append((new_id, [tuple(r) for r in rows]))
        finally:
            await db.dispose()
    assert results[0] == results[1]
    assert results[0][1][0] == (1, "æøå 0", b"\x00")


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_writer_waits_for_the_lock_without_blocking_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lock.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None)  # another process, in effect
    try:
        async with db.write_core() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO t VALUES (1)")

        # Progress of another task, and how far it had got at each of the writer's
        # attempts that found the database locked.
        ticks = 0
        ticks_at_busy: list[int] = []
        is_busy = sqlite_inline._is_busy

        def counting_is_busy(exc: sqlite3.OperationalError) -> bool:
            busy = is_busy(exc)
            if busy:
                ticks_at_busy.append(ticks)
            return busy

        monkeypatch.setattr(sqlite_inline, "_is_busy", counting_is_busy)

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async def write() -> None:
            async with db.write_core() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))

        tick_task = asyncio.create_task(ticker())
        writer = asyncio.create_task(write())
        while len(ticks_at_busy) < 5 and not writer.done():
            await asyncio.sleep(0)
        assert not writer.done()  # still waiting for the lock …
        # … and between any two of its attempts the other task made progress: the loop
        # kept running while the writer waited.
        assert all(b > a for a, b in itertools.pairwise(ticks_at_busy)), ticks_at_busy
        holder.execute("COMMIT")
        await asyncio.wait_for(writer, 5)
        tick_task.cancel()
        async with db.read() as session:
            values = (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars()
            assert list(values) == [1, 2]
    finally:
        holder.close()
        await db.dispose()


@pytest.mark.asyncio
async def test_the_wait_ends_with_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "lock.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        conn = await inline_creator(str(path), busy_seconds=0.2)()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("BEGIN IMMEDIATE")
        await conn.close()
        db = Database(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.2})
        with pytest.raises(OperationalError, match="locked"):
            async with db.write_core() as c:
                await c.execute(text("INSERT INTO t VALUES (1)"))
        await db.dispose()
    finally:
        holder.close()


@pytest.mark.asyncio
async def test_only_statements_that_may_be_retried_are(tmp_path: Path) -> None:
    """Outside a transaction and at COMMIT a busy statement is retried; inside a
    transaction it is raised (https://sqlite.org/rescode.html#busy)."""
    conn = await inline_creator(str(tmp_path / "r.db"), busy_seconds=5)()
    calls = 0

    def busy_twice() -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert await conn._run(busy_twice) == "ok" and calls == 3
    await conn.execute("BEGIN IMMEDIATE")
    calls = 0
    with pytest.raises(sqlite3.OperationalError):
        await conn._run(busy_twice)
    calls = 0
    assert await conn._run(busy_twice, commit=True) == "ok" and calls == 3
    await conn.rollback()
    await conn.close()
