"""Benchmark: how long the longest jobs on the event loop keep it from serving.

The SQLite driver runs statements on the loop's own thread (bot/core/sqlite_inline.py), and
ORM rows are built on it whatever the driver. This measures, for N entries (default
100,000, the issue's size), the longest gap a 5 ms ticker sees while the service
(1) exports the published registry (``landkort export``, ``/export.csv``) and
(2) plans the yearly reminders (the campaign scheduler's tick), once with each SQLite
driver. It prints each job's time, the longest loop stall, and the stall against the
stated bound (BOUND_MS): a stall over the bound means requests such as /healthz waited
that long.

    .venv/bin/python benchmarks/loop_stall.py [--n 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from benchmarks.campaign import add_stale_entries  # noqa: E402
from bot.campaigns.reminders import make_plan  # noqa: E402
from bot.core.db import Database, dbnow  # noqa: E402
from bot.core.migrate import upgrade  # noqa: E402
from bot.core.settings import load_settings  # noqa: E402
from bot.registry.export import published_records  # noqa: E402

BOUND_MS = 250.0  # the stated bound: longer than this, a health check would time out


async def stall_during(job: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(seconds the job took, longest gap between ticks in seconds) while it runs."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.005)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    start = time.perf_counter()
    await job()
    took = time.perf_counter() - start
    done.set()
    await tick
    return took, worst


async def run(n: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="landkort-stall-"))
    settings = load_settings(environ={}, data_dir=str(folder), secret_key="s" * 32,
                             sending_days="mon,tue,wed,thu,fri,sat,sun",
                             sending_window="00:00-23:59")
    print(f"{'driver':>10} {'job':>8} {'N':>8} {'seconds':>8} {'stall ms':>9} "
          f"{'bound ms':>9} {'stall/bound':>12}")
    for driver in ("inline", "aiosqlite"):
        db = Database(f"sqlite+aiosqlite:///{folder / driver}.db",
                      sqlite_inline=driver == "inline")
        await upgrade(db)
        await add_stale_entries(db, n)
        jobs: dict[str, Callable[[], Awaitable[Any]]] = {
            "export": lambda db=db: published_records(db),
            "plan": lambda db=db: make_plan(db, settings, dbnow()),
        }
        for name, job in jobs.items():
            took, stall = await stall_during(job)
            print(f"{driver:>10} {name:>8} {n:>8} {took:>8.2f} {stall * 1000:>9.0f} "
                  f"{BOUND_MS:>9.0f} {stall * 1000 / BOUND_MS:>11.2f}x", flush=True)
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(run(args.n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
