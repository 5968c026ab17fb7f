"""Benchmark: the moderation queue page and the duplicate check at 1,000 and 100,000.

    .venv/bin/python benchmarks/web.py [--database-url URL] [--requests 200]
                                       [--concurrency 4] [--sizes 1000,100000]

Seeds pending queue items (bulk insert) into a fresh database (a temporary SQLite file
unless ``--database-url`` names an empty PostgreSQL database), runs the app on loopback,
logs in, and fires bounded load at ``/moderation`` (first page) and at a filtered page
with an aiohttp client, printing median and p95 latency per size and the ratio between
the largest and the smallest size (goal: within 1.5×). Then seeds as many registry
entries and times :func:`bot.registry.duplicates.find_duplicates` (warm index; the build
time is printed separately).
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, CookieJar, web
from sqlalchemy import insert, select

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.app import create_app
from bot.core.db import Database, dbnow
from bot.core.migrate import upgrade
from bot.core.settings import load_settings
from bot.registry.duplicates import find_duplicates, invalidate
from bot.registry.models import Initiative
from bot.registry.vocabulary import REGION_KEYS
from moderation.accounts import create_user
from moderation.models import Submission

PASSWORD = "benchmark password"
TOPICS = ["KOL", "hjertesvigt", "diabetes", "sår", "graviditet", "psykiatri", "kræft",
          "epilepsi", "astma", "demens", "rehabilitering", "palliation", "nyresygdom",
          "gigt", "sclerose", "parkinson", "smerte", "søvnapnø", "overvægt", "angst"]
FORMS = ["Telemedicinsk hjemmemonitorering af", "Videokonsultation ved", "App til borgere med",
         "Virtuel rehabilitering ved", "Digital opfølgning på", "Telepsykiatri for",
         "Hjemmebehandling af", "Fjernkonsultation om", "Sensorbaseret overvågning af"]
PLACES = ["Aalborg", "Aarhus", "Odense", "Esbjerg", "Vejle", "Herning", "Roskilde",
          "Næstved", "Hillerød", "Holbæk", "Viborg", "Horsens", "Kolding", "Silkeborg",
          "Randers", "Frederikshavn", "Hjørring", "Svendborg", "Slagelse", "Køge"]


QUALIFIERS = ["", "", "for ældre", "i eget hjem", "efter udskrivelse", "på tværs af sektorer",
              "for børn og unge", "med tablet", "– pilotprojekt", "i almen praksis"]


def make_title(rng: random.Random, n: int) -> str:
    """A realistic title. Without a unique number: at 100,000 entries many titles are
    alike, which is the worst case for blocking."""
    return " ".join(p for p in (rng.choice(FORMS), rng.choice(TOPICS), "i",
                                rng.choice(PLACES), rng.choice(QUALIFIERS)) if p)


async def seed_queue(db: Database, start: int, count: int, rng: random.Random) -> None:
    """Bulk-insert ``count`` pending items, oldest first, in batches."""
    base = dbnow() - timedelta(days=400)
    kinds = ["new", "update", "confirmation", "confirmation", "update"]
    rows = []
    for i in range(start, start + count):
        region = rng.choice(REGION_KEYS)
        flags = rng.sample(["sender_differs", "likely_duplicate", "problems"],
                           k=rng.choice([0, 0, 0, 1]))
        rows.append({"kind": rng.choice(kinds), "channel": rng.choice(["email", "chat"]),
                     "state": "pending" if i % 10 else "needs_info",
                     "proposed": {"title": make_title(rng, i)}, "problems": [],
                     "flags": sorted(flags), "duplicate_candidates": [],
                     "filter_regions": f",{region},", "sender_email": f"s{i}@example.dk",
                     "language": "da", "token_matched": False,
                     "idempotency_key": f"bench:{i}",
                     "created_at": base + timedelta(seconds=i * 30),
                     "updated_at": base + timedelta(seconds=i * 30)})
    for k in range(0, len(rows), 5000):
        async with db.write() as session:
            await session.execute(insert(Submission), rows[k:k + 5000])


async def seed_entries(db: Database, start: int, count: int, rng: random.Random) -> None:
    rows = []
    now = dbnow()
    for i in range(start, start + count):
        title = make_title(rng, i)
        rows.append({"slug": f"bench-{i}", "title": title, "status": "i_drift",
                     "participants": ["kommune"], "regions": [rng.choice(REGION_KEYS)],
                     "municipalities": [], "patient_groups": [], "technology": [],
                     "organisation": f"{rng.choice(PLACES)} Kommune", "version": 1,
                     "unconfirmed": False, "needs_new_contact": False,
                     "created_at": now, "updated_at": now})
    for k in range(0, len(rows), 5000):
        async with db.write() as session:
            await session.execute(insert(Initiative), rows[k:k + 5000])


async def load_run(url: str, paths: list[str], requests: int,
                   concurrency: int) -> dict[str, tuple[float, float]]:
    """Log in, warm up, then ``requests`` GETs per path with ``concurrency`` workers;
    returns {path: (median ms, p95 ms)}."""
    import re

    out: dict[str, tuple[float, float]] = {}
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1).
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        html = await (await http.get(f"{url}/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        resp = await http.post(f"{url}/login", data={"csrf_token": token.group(1),
                                                     "username": "bench",
                                                     "password": PASSWORD})
        assert resp.status == 200 and "/moderation" in str(resp.url), resp.status
        for path in paths:
            for _ in range(5):  # warm-up (caches, connection pool)
                await (await http.get(url + path)).read()
            times: list[float] = []
            budget = [requests]

            async def worker(target: str, sink: list[float], left: list[int]) -> None:
                while left[0] > 0:
                    left[0] -= 1
                    t0 = time.perf_counter()
                    r = await http.get(target)
                    await r.read()
                    assert r.status == 200, r.status
                    sink.append((time.perf_counter() - t0) * 1000)

            await asyncio.gather(*(worker(url + path, times, budget)
                                   for _ in range(concurrency)))
            times.sort()
            out[path] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    return out


async def bench_queries(db: Database, runs: int = 50) -> tuple[float, float, float]:
    """In-process medians (ms): first queue page, a filtered page, one full count pass —
    the database work alone, without HTTP and templates."""
    from moderation.web.queue_view import QueueFilters, _count, fetch_queue

    async def median(call: Any, n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await call()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    async def page(filters: QueueFilters) -> None:
        async with db.read() as session:
            await fetch_queue(session, filters, actor="bench")

    first = await median(lambda: page(QueueFilters()), runs)
    filtered = await median(lambda: page(QueueFilters(kind="new", region="sjaelland")), runs)
    counts = await median(lambda: _count(db, "bench"), 5)
    return first, filtered, counts


async def bench_duplicates(db: Database, rng: random.Random, probes: int = 100
                           ) -> tuple[float, float]:
    """(index build ms, median check ms) over perturbed titles of existing entries."""
    async with db.read() as session:
        invalidate(session)
        t0 = time.perf_counter()
        await find_duplicates(session, {"title": "warm up"})
        build = (time.perf_counter() - t0) * 1000
        titles = list(await session.scalars(select(Initiative.title).limit(2000)))
        times = []
        for _ in range(probes):
            title = rng.choice(titles).replace("i ", "", 1).replace("af", "for")
            record = {"title": title, "organisation": f"{rng.choice(PLACES)} Kommune",
                      "regions": [rng.choice(REGION_KEYS)]}
            t0 = time.perf_counter()
            await find_duplicates(session, record)
            times.append((time.perf_counter() - t0) * 1000)
    return build, statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}"
    db = Database(url)
    await upgrade(db)
    settings = load_settings(environ={}, data_dir=tmp.name, secret_key="b" * 32)
    await create_user(db, "bench", PASSWORD, actor="bench")
    rng = random.Random(7)
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = ["/moderation", "/moderation?kind=new&region=sjaelland"]
    results: dict[int, dict[str, tuple[float, float]]] = {}
    dups: dict[int, tuple[float, float]] = {}
    seeded = entries = 0
    port_runner = None
    try:
        for size in sizes:
            t0 = time.perf_counter()
            await seed_queue(db, seeded, size - seeded, rng)
            seeded = size
            print(f"seeded {size:,} pending items in {time.perf_counter() - t0:.1f}s",
                  flush=True)
            app = create_app(settings, db, components=("moderation.web.routes",),
                             start_workers=False)
            port_runner = web.AppRunner(app, access_log=None)
            await port_runner.setup()
            site = web.TCPSite(port_runner, "127.0.0.1", 0)
            await site.start()
            port = port_runner.addresses[0][1]
            results[size] = await load_run(f"http://127.0.0.1:{port}", paths,
                                           args.requests, args.concurrency)
            await port_runner.cleanup()
            port_runner = None
            for path, (med, p95) in results[size].items():
                print(f"  queue {size:>7,}  {path:<40} median {med:7.1f} ms  p95 {p95:7.1f} ms",
                      flush=True)
            first, filtered, counts = await bench_queries(db)
            print(f"  queries {size:>7,}: first page {first:.1f} ms, filtered page "
                  f"{filtered:.1f} ms, full count pass {counts:.1f} ms", flush=True)
            t0 = time.perf_counter()
            await seed_entries(db, entries, size - entries, rng)
            entries = size
            dups[size] = await bench_duplicates(db, rng)
            print(f"  duplicates {size:>7,} entries: index build {dups[size][0]:.0f} ms, "
                  f"check median {dups[size][1]:.2f} ms", flush=True)
    finally:
        if port_runner is not None:
            await port_runner.cleanup()
        await db.dispose()
        tmp.cleanup()
    small, large = sizes[0], sizes[-1]
    print("\nsummary")
    for path in paths:
        (m1, p1), (m2, p2) = results[small][path], results[large][path]
        print(f"  {path:<40} {small:,}: median {m1:.1f} / p95 {p1:.1f} ms   "
              f"{large:,}: median {m2:.1f} / p95 {p2:.1f} ms   ratio (median) {m2 / m1:.2f}×")
    print(f"  duplicate check median: {small:,} entries {dups[small][1]:.2f} ms, "
          f"{large:,} entries {dups[large][1]:.2f} ms")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="",
                        help="an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sizes", default="1000,100000")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()


