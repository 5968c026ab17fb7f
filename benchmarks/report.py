"""Benchmark: the yearly report over N entries with a history of several years, next to
the statistics page's own pass over the same history (its peer: one read of every
version, one count per year) measured in the same run.

Usage::

    .venv/bin/python benchmarks/report.py [--n 2000] [--years 5] [--json]

Seeds N published entries through the product's write path
(:func:`bot.registry.repository.create_initiative`, 250 to a transaction) into a
temporary SQLite file, each with a version per year (a status that moves from project to
operation, some ending), then times, best of three:

* ``years_side_by_side`` (the statistics page's table of years: the peer),
* ``compute_report`` counted afresh (the whole report: figures, trend, coverage,
  freshness, campaign), and again with nothing changed (the cached count),
* the A4 PDF (fpdf2) and the CSV of that report.

Prints each time, the report's time as a ratio of the peer's, and the PDF's size.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import update  # noqa: E402

import bot.schema  # noqa: E402,F401
from bot.core.db import Database  # noqa: E402
from bot.core.migrate import upgrade  # noqa: E402
from bot.registry.models import InitiativeVersion  # noqa: E402
from bot.registry.repository import apply_changes, create_initiative  # noqa: E402
from bot.registry.stats import years_side_by_side  # noqa: E402
from bot.registry.vocabulary import MUNICIPALITY_REGION  # noqa: E402
from bot.report.files import report_csv, report_pdf  # noqa: E402
from bot.report.store import compute_report  # noqa: E402

TODAY = date(2026, 12, 3)
STATUSES = ("projekt", "under_udbredelse", "i_drift", "afsluttet")
TECH = ("Video", "Tablet", "Pulsoximeter", "App", "Vægt", "Spørgeskema", "Skærmbesøg")
GROUPS = ("KOL", "Hjertesvigt", "Diabetes", "Sår", "Psykiatri", "Graviditet", "Demens")
PARTS = (["kommune"], ["sygehus"], ["kommune", "sygehus"], ["almen_praksis", "sygehus"],
         ["almen_praksis", "kommune", "sygehus"])


async def seed(db: Database, n: int, years: int, rng: random.Random) -> None:
    munis = sorted(MUNICIPALITY_REGION)
    first = TODAY.year - years
    for start in range(0, n, 250):
        async with db.write() as s:
            for i in range(start, min(n, start + 250)):
                m = rng.sample(munis, rng.randint(1, 3))
                record: dict[str, Any] = {
                    "title": f"Initiativ {i} om {rng.choice(GROUPS)}",
                    "description": "Borgere måler hjemme og ses over video.",
                    "status": "projekt", "participants": rng.choice(PARTS),
                    "regions": sorted({MUNICIPALITY_REGION[x] for x in m}),
                    "municipalities": sorted(m), "organisation": f"Organisation {i % 97}",
                    "patient_groups": sorted(rng.sample(GROUPS, 2)),
                    "technology": sorted(rng.sample(TECH, 2)),
                    "pro": ["hjemmemaaling"] if i % 3 == 0 else [],
                    "contact_name": f"Kontakt {i}", "contact_email": f"k{i}@example.dk"}
                entry = await create_initiative(s, record, actor="bench", channel="import")
                born = datetime(first + rng.randrange(years), rng.randint(1, 12), 1)
                await s.execute(update(InitiativeVersion).where(
                    InitiativeVersion.initiative_id == entry.id)
                    .values(created_at=born))
                at = born
                for status in STATUSES[1:rng.randint(1, 4)]:
                    at += timedelta(days=rng.randint(200, 500))
                    if at.date() >= TODAY:
                        break
                    v = await apply_changes(s, entry, {"status": status}, actor="bench",
                                            channel="email")
                    if v is not None:
                        v.created_at = at


def best_of(fn: Any, rounds: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(db)
        t = time.perf_counter()
        await seed(db, args.n, args.years, random.Random(7))
        seeded = time.perf_counter() - t
        from bot.report import store

        peer: list[float] = []
        cold: list[float] = []
        cached: list[float] = []
        data: dict[str, Any] = {}
        for _ in range(3):
            t = time.perf_counter()
            await years_side_by_side(db, "10-01", today=TODAY)
            peer.append(time.perf_counter() - t)
            store._COUNTED.clear()  # counted afresh, as after any change to the registry
            t = time.perf_counter()
            data = await compute_report(db, TODAY.year, reference_day="10-01", today=TODAY)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            await compute_report(db, TODAY.year, reference_day="10-01", today=TODAY)
            cached.append(time.perf_counter() - t)
        pdf_s, pdf = best_of(lambda: report_pdf(data, "da"))
        csv_s, _ = best_of(lambda: report_csv(data, "da"))
        await db.dispose()
    out = {"entries": args.n, "years": args.years, "seed_s": round(seeded, 2),
           "peer_years_side_by_side_s": round(min(peer), 3),
           "report_s": round(min(cold), 3),
           "report_over_peer": round(min(cold) / min(peer), 2),
           "report_cached_s": round(min(cached), 4),
           "pdf_s": round(pdf_s, 3), "pdf_kb": round(len(pdf) / 1024, 1),
           "csv_s": round(csv_s, 3), "total_counted": data["totals"]["total"]}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:28} {v}")


if __name__ == "__main__":
    asyncio.run(main())
