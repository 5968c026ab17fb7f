"""SQLite driver benchmark: statements through aiosqlite's thread next to the same
statements run on the event loop thread (:mod:`bot.core.sqlite_inline`), in the same run.

    .venv/bin/python benchmarks/db_driver.py [--n 2000]

Both go through :class:`bot.core.db.Database` and SQLAlchemy exactly as the service does:
``N`` write transactions (``BEGIN IMMEDIATE``) of 10 Core INSERTs each, then ``N``
single-row primary-key reads, on a WAL file in a temporary folder. A third line runs the
same transactions with :mod:`sqlite3` alone, the floor under both. Prints µs per
statement and the aiosqlite/inline ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select  # noqa: E402

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.core.db import Database  # noqa: E402

META = MetaData()
ROWS = Table("bench_rows", META, Column("id", Integer, primary_key=True), Column("v", String))
PER_TX = 10


async def run(db: Database, n: int) -> tuple[float, float]:
    async with db.write_core() as conn:
        await conn.run_sync(META.create_all)
    t0 = time.perf_counter()
    for _ in range(n):
        async with db.write_core() as conn:
            for _ in range(PER_TX):
                await conn.execute(insert(ROWS).values(v="x"))
    write_us = (time.perf_counter() - t0) / (n * PER_TX) * 1e6
    t0 = time.perf_counter()
    for i in range(n):
        async with db.read() as session:
            await session.scalar(select(ROWS.c.v).where(ROWS.c.id == i + 1))
    read_us = (time.perf_counter() - t0) / n * 1e6
    await db.dispose()
    return write_us, read_us


def floor(path: Path, n: int) -> float:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS bench_rows (id INTEGER PRIMARY KEY, v TEXT)")
    t0 = time.perf_counter()
    for _ in range(n):
        con.execute("BEGIN IMMEDIATE")
        for _ in range(PER_TX):
            con.execute("INSERT INTO bench_rows (v) VALUES (?)", ("x",))
        con.execute("COMMIT")
    con.close()
    return (time.perf_counter() - t0) / (n * PER_TX) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="write transactions and reads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="landkort-dbbench-") as tmp:
        folder = Path(tmp)
        thread = await run(Database(f"sqlite+aiosqlite:///{folder / 'thread.db'}",
                                    sqlite_inline=False), args.n)
        inline = await run(Database(f"sqlite+aiosqlite:///{folder / 'inline.db'}"), args.n)
        raw = floor(folder / "raw.db", args.n)
    print(f"{'driver':<28} {'µs/INSERT (in tx of 10)':>24} {'µs/read tx':>11}")
    print(f"{'aiosqlite (helper thread)':<28} {thread[0]:>24.1f} {thread[1]:>11.1f}")
    print(f"{'inline (loop thread)':<28} {inline[0]:>24.1f} {inline[1]:>11.1f}")
    print(f"{'sqlite3 alone (floor)':<28} {raw:>24.1f} {'':>11}")
    print(f"aiosqlite / inline: writes {thread[0] / inline[0]:.1f}x, "
          f"reads {thread[1] / inline[1]:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
