"""Benchmark: the public catalogue (search, filters, facets) next to Datasette on the same rows.

Usage::

    .venv/bin/python benchmarks/public_site.py [--n 10000] [--requests 50] [--concurrency 8]
                                          [--duration 5] [--api] [--skip-datasette] [--json]

1. Seeds N published entries with varied text (titles, descriptions with patient groups,
   technology, municipalities, regions, organisations) into a temporary SQLite database
   through the product's own write path (:func:`bot.registry.repository.create_initiative`
   inside ``Database.write()``, 250 to a transaction), so whatever the registry keeps
   beside an entry (versions, contacts, a search index) is built as in production.
2. Exports the same published rows to a second SQLite file, a table ``initiatives`` with an
   FTS5 index made with ``sqlite-utils enable-fts`` (what Datasette's documentation
   describes), and serves it with Datasette from a venv this script sets up on first run
   (``--datasette-venv``, default ``/tmp/landkort-bench-datasette-venv``; ``pip install
   datasette sqlite-utils``). Datasette runs as ``datasette serve -i`` (immutable, as
   ``datasette publish`` does) with suggested facets off (landkort suggests none) and
   facet and SQL time limits raised, so it computes every facet asked for rather than
   dropping one; the uvicorn access log is off, as landkort's is here.
3. Runs landkort's public web app (``bot.public.web`` only, no workers) on 127.0.0.1 in a
   child process, and Datasette in another, so client and servers are separate processes.
4. For each query and server: a warm-up, then ``--requests`` sequential GETs (median and
   p95 latency; a phase stops early after ``--max-seconds``), then requests per second
   with ``--concurrency`` workers for ``--duration`` seconds.

The four queries, HTML pages on both sides (``--api`` adds the JSON list endpoints):

==================  ===========================  ============================================
query               landkort                     Datasette (/landkort/initiatives?…)
==================  ===========================  ============================================
first page          ``/``                        ``_size=20&_sort=title`` + facets
one word            ``/?q=KOL``                  ``_search="KOL"*&_searchmode=raw`` + the same
two words           ``/?q=KOL+Aalborg``          ``_search="KOL"* "Aalborg"*`` (raw) + the same
word and filter     ``/?q=KOL&status=i_drift``   ``…"KOL"*…&status=i_drift`` …
==================  ===========================  ============================================

Facets: landkort's page counts all seven filter menus; Datasette gets the same seven
(``_facet=status&_facet=sector`` and ``_facet_array=`` regions, municipalities,
participants, patient_groups, technology). Datasette's searches are FTS5 prefix queries
because landkort finds a word at the start of a word ("kol" finds "KOL-patienter" and
"Kolding"); the hit counts of both sides are printed, and should agree. The FTS index covers
title, description, organisation, patient groups, technology, municipalities and regions.

Prints a table (rps on both sides, their ratio, p50/p95 ms) and the goal, "landkort ≥
Datasette rps on every query, p95 < 50 ms", with what was met. Figures swing from run to
run on a shared 2-core machine: compare the ratios within a run. Tests never assert times.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_VENV = Path(tempfile.gettempdir()) / "landkort-bench-datasette-venv"
DS_NAME = "landkort"  # the Datasette database (file landkort.db) → /landkort/initiatives
PAGE_SIZE = 20
BATCH = 250
GOAL_P95_MS = 50.0

# ------------------------------------------------------------------------------ the data

PATIENT_GROUPS = (
    "KOL", "Hjertesvigt", "Diabetes", "Gravide", "Psykiatri", "Sår", "Kræft", "Epilepsi",
    "Astma", "Demens", "Nyresygdom", "Gigt", "Sclerose", "Parkinson", "Kroniske smerter",
    "Søvnapnø", "Overvægt", "Angst", "Depression", "For tidligt fødte", "Apopleksi",
    "Hjerterehabilitering", "Palliation", "Ældre medicinske patienter", "Osteoporose")
TECHNOLOGY = ("Video", "Tablet", "App", "Blodtryksmåler", "Vægt", "Pulsoximeter",
              "Spirometer", "Sensorer", "Smartwatch", "Telefon", "Elektronisk dagbog",
              "Webportal")
PARTICIPANT_SETS = (["kommune"], ["sygehus"], ["kommune", "sygehus"],
                    ["almen_praksis", "sygehus"], ["almen_praksis", "kommune", "sygehus"],
                    ["almen_praksis", "kommune"], ["almen_praksis"])
FORMS = ("Telemedicinsk hjemmemonitorering af", "Videokonsultation ved",
         "App til borgere med", "Virtuel rehabilitering ved", "Digital opfølgning på",
         "Telemedicinsk støtte ved", "Hjemmebehandling af", "Fjernkonsultation om",
         "Sensorbaseret overvågning af", "Tværsektoriel telemedicin ved")
QUALIFIERS = ("", "", "", "for ældre", "i eget hjem", "efter udskrivelse",
              "på tværs af sektorer", "for børn og unge", "med tablet", "– pilotprojekt",
              "i almen praksis", "i hjemmeplejen")
OPENINGS = ("Borgere med {pg} følges hjemme med {tech}.",
            "Patienter med {pg} måler selv og sender målingerne med {tech}.",
            "Et samarbejde om {pg}, hvor {tech} bruges mellem besøgene.",
            "Sygeplejersker holder øje med borgere med {pg} via {tech}.",
            "Tilbuddet giver mennesker med {pg} kontakt til behandlere med {tech}.")
MIDDLES = ("Målingerne ses dagligt af et team, der ringer op ved afvigelser.",
           "Formålet er færre genindlæggelser og mere tryghed i hverdagen.",
           "Projektet evalueres med spørgeskemaer og registerdata.",
           "Borgerne får udleveret udstyr og en kort oplæring ved opstart.",
           "Egen læge og hjemmesygeplejen kan se de samme data.",
           "Der er fokus på egenomsorg, træning og medicinhåndtering.",
           "Løsningen bygger på en fælles infrastruktur for telemedicin.",
           "Ambulante kontroller erstattes delvist af virtuelle samtaler.")
CLOSINGS = ("Tilbuddet gives i {munis}.", "Deltagende kommuner: {munis}.",
            "Indsatsen dækker borgere i {munis}.", "Udbredes fra {munis} til resten af "
            "regionen.")
STATUS_WEIGHTS = {"projekt": 3, "under_udbredelse": 2, "i_drift": 4, "afsluttet": 2}


def make_record(i: int, rng: random.Random) -> dict[str, Any]:
    """One varied record under canonical keys (``tests.public_seed.sample_entries``, at
    scale and with freer text): a one-word search hits a few per cent of the registry."""
    from bot.registry.vocabulary import MUNICIPALITIES_BY_REGION, REGION_KEYS

    region = rng.choice(REGION_KEYS)
    regions = [region] if rng.random() > 0.1 else sorted({region, rng.choice(REGION_KEYS)})
    local = MUNICIPALITIES_BY_REGION[region]
    munis = sorted(set(rng.sample(local, k=min(len(local), rng.choice((1, 1, 2, 3))))))
    groups = [rng.choice(PATIENT_GROUPS)]
    if rng.random() < 0.25:
        groups.append(rng.choice(PATIENT_GROUPS))
    groups = list(dict.fromkeys(groups))
    tech = list(dict.fromkeys(rng.choice(TECHNOLOGY) for _ in range(rng.choice((1, 1, 2)))))
    participants = rng.choice(PARTICIPANT_SETS)
    kind = rng.random()
    if kind < 0.45:
        organisation = f"{munis[0]} Kommune"
    elif kind < 0.8:
        organisation = f"Hospitalsenhed {rng.choice(local)}"
    else:
        organisation = f"Region {region.capitalize()}"
    title = " ".join(p for p in (rng.choice(FORMS), groups[0].lower(), "i", munis[0],
                                 rng.choice(QUALIFIERS)) if p)
    description = " ".join([
        rng.choice(OPENINGS).format(pg=" og ".join(g.lower() for g in groups),
                                    tech=" og ".join(t.lower() for t in tech)),
        *rng.sample(MIDDLES, k=rng.choice((1, 2, 3))),
        rng.choice(CLOSINGS).format(munis=", ".join(munis)),
    ])
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    year = rng.randint(2012, 2025)
    return {
        "title": title, "description": description, "status": status,
        "participants": participants, "regions": regions, "municipalities": munis,
        "organisation": organisation, "patient_groups": groups, "technology": tech,
        "start_date": f"{year}-{rng.randint(1, 12):02d}-01",
        "end_date": f"{min(year + 2, 2025)}-12-31" if status == "afsluttet" else None,
        "contact_name": f"Kontakt {i % 1500 + 1}",
        "contact_email": f"kontakt{i % 1500 + 1}@example.dk",
        "website": f"https://example.dk/initiativ/{i + 1}" if i % 2 else None,
    }


async def seed(db_path: Path, n: int) -> None:
    """``n`` published entries through the registry's own write path."""
    import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
    from bot.core.db import Database
    from bot.core.migrate import upgrade
    from bot.registry.repository import create_initiative

    db = Database(f"sqlite+aiosqlite:///{db_path}")
    try:
        await upgrade(db)
        rng = random.Random(16)
        for start in range(0, n, BATCH):
            async with db.write() as session:
                for i in range(start, min(n, start + BATCH)):
                    await create_initiative(session, make_record(i, rng), actor="bench",
                                            channel="import")
    finally:
        await db.dispose()


# ------------------------------------------------------------- Datasette: venv and export

LIST_COLUMNS = ("participants", "regions", "municipalities", "patient_groups", "technology")
EXPORT_COLUMNS = ("id", "slug", "title", "description", "organisation", "status", "sector",
                  *LIST_COLUMNS, "start_date", "end_date", "website", "updated_at")
FTS_COLUMNS = ("title", "description", "organisation", "patient_groups", "technology",
               "municipalities", "regions")


def ensure_datasette(venv: Path, say: Callable[[str], None]) -> str:
    """A venv with Datasette and sqlite-utils (made on first run); returns the version."""
    bin_dir = venv / "bin"
    if not (bin_dir / "datasette").exists() or not (bin_dir / "sqlite-utils").exists():
        say(f"setting up Datasette in {venv} (pip install datasette sqlite-utils) …")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                        "datasette", "sqlite-utils"], check=True)
    out = subprocess.run([str(bin_dir / "datasette"), "--version"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def export_for_datasette(src: Path, dest: Path, venv: Path) -> int:
    """Copy the published rows (merged duplicates left out, as the catalogue does) into
    ``dest`` with an FTS5 index; returns how many rows."""
    with contextlib.closing(sqlite3.connect(src)) as con:
        rows = con.execute(f"SELECT {', '.join(EXPORT_COLUMNS)} FROM initiatives "
                           "WHERE merged_into_id IS NULL ORDER BY id").fetchall()
    lists = {EXPORT_COLUMNS.index(c) for c in LIST_COLUMNS}
    out = [tuple(json.dumps(json.loads(v or "[]"), ensure_ascii=False) if k in lists else v
                 for k, v in enumerate(row)) for row in rows]
    with contextlib.closing(sqlite3.connect(dest)) as con:
        cols = ", ".join(f"[{c}] INTEGER PRIMARY KEY" if c == "id" else f"[{c}] TEXT"
                         for c in EXPORT_COLUMNS)
        con.execute(f"CREATE TABLE initiatives ({cols})")
        con.executemany(f"INSERT INTO initiatives VALUES ({', '.join('?' * len(EXPORT_COLUMNS))})",
                        out)
        # The same single-column indexes landkort's table has.
        con.execute("CREATE INDEX ix_initiatives_status ON initiatives (status)")
        con.execute("CREATE INDEX ix_initiatives_sector ON initiatives (sector)")
        con.commit()
    subprocess.run([str(venv / "bin" / "sqlite-utils"), "enable-fts", str(dest),
                    "initiatives", *FTS_COLUMNS, "--fts5"], check=True)
    with contextlib.closing(sqlite3.connect(dest)) as con:
        con.execute("ANALYZE")
        con.commit()
    return len(out)


# ------------------------------------------------------------------------ the servers

def _die_with_parent() -> None:
    """In a child, before exec: get SIGTERM when the benchmark dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_landkort(db_path: Path, data_dir: Path) -> None:
    """The child: landkort's public pages on 127.0.0.1; prints {"port": …}; stops on
    SIGTERM."""
    from aiohttp import web

    import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
    from bot.app import create_app
    from bot.core.db import Database
    from bot.core.settings import load_settings

    db = Database(f"sqlite+aiosqlite:///{db_path}")
    settings = load_settings(environ={}, data_dir=str(data_dir), secret_key="b" * 32)
    app = create_app(settings, db, components=("bot.public.web",), start_workers=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        await db.dispose()


# Datasette's own CLI (startup hooks and database checks included), with the uvicorn
# access log off: landkort runs with access_log=None here.
DATASETTE_LAUNCHER = """
import functools, sys, uvicorn
uvicorn.run = functools.partial(uvicorn.run, access_log=False)
from datasette.cli import cli
sys.argv = ["datasette"] + sys.argv[1:]
cli()
"""


@dataclass
class Server:
    name: str
    url: str
    proc: asyncio.subprocess.Process
    log: Path


async def wait_ready(server: Server, path: str, timeout: float = 90.0) -> None:
    from aiohttp import ClientError, ClientSession

    deadline = time.monotonic() + timeout
    async with ClientSession() as http:
        while True:
            if server.proc.returncode is not None:
                raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n"
                                   + tail(server.log))
            with contextlib.suppress(ClientError, OSError):
                async with http.get(server.url + path) as r:
                    await r.read()
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s:\n"
                                   + tail(server.log))
            await asyncio.sleep(0.2)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def start_landkort(db_path: Path, tmp: Path) -> Server:
    log = tmp / "landkort.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--serve-landkort", str(db_path),
            "--data-dir", str(tmp / "data"), stdout=asyncio.subprocess.PIPE, stderr=err,
            cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)},
            preexec_fn=_die_with_parent)
    server = Server("landkort", "", proc, log)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 90)
        port = int(json.loads(line)["port"])
    except (TimeoutError, ValueError, KeyError) as exc:
        await stop_server(server)
        raise RuntimeError(f"landkort did not start ({exc!r}):\n{tail(log)}") from None
    server.url = f"http://127.0.0.1:{port}"
    await wait_ready(server, "/healthz")
    return server


async def start_datasette(ds_db: Path, venv: Path, tmp: Path) -> Server:
    log = tmp / "datasette.log"
    port = free_port()
    args = ["serve", "-i", str(ds_db), "-h", "127.0.0.1", "-p", str(port),
            "--setting", "suggest_facets", "off",
            "--setting", "facet_time_limit_ms", "10000",
            "--setting", "sql_time_limit_ms", "10000"]
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(venv / "bin" / "python"), "-c", DATASETTE_LAUNCHER, *args,
            stdout=out, stderr=subprocess.STDOUT, cwd=str(tmp), preexec_fn=_die_with_parent)
    server = Server("Datasette", f"http://127.0.0.1:{port}", proc, log)
    try:
        await wait_ready(server, "/-/versions.json")
    except BaseException:
        await stop_server(server)
        raise
    return server


async def stop_server(server: Server) -> None:
    if server.proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        server.proc.terminate()
    try:
        await asyncio.wait_for(server.proc.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            server.proc.kill()
        await server.proc.wait()


# ------------------------------------------------------------------------ the queries

DS_FACETS = [("_facet", "status"), ("_facet", "sector"),
             *(("_facet_array", c) for c in LIST_COLUMNS)]


@dataclass(frozen=True)
class Query:
    label: str
    q: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    api: bool = False

    def landkort(self) -> str:
        params = ([("q", self.q)] if self.q else []) + list(self.filters)
        if self.api:
            return "/api/initiatives?" + urlencode(params + [("limit", str(PAGE_SIZE))])
        return "/" + ("?" + urlencode(params) if params else "")

    def datasette(self, *, check: bool = False) -> str:
        """Datasette's page for this query; ``check``: its JSON twin (hit count and
        whether a facet timed out)."""
        params: list[tuple[str, str]] = []
        if self.q:  # landkort finds a word at the start of a word: FTS5 prefix queries
            params += [("_search", " ".join(f'"{w}"*' for w in self.q.split())),
                       ("_searchmode", "raw")]
        params += [*self.filters, ("_sort", "title"), ("_size", str(PAGE_SIZE))]
        if not self.api:
            params += DS_FACETS
        elif not check:
            params.append(("_shape", "objects"))
        suffix = ".json" if self.api or check else ""
        return f"/{DS_NAME}/initiatives{suffix}?" + urlencode(params)


QUERIES = (Query("first page"), Query("q=KOL", "KOL"), Query("q=KOL Aalborg", "KOL Aalborg"),
           Query("q=KOL status=i_drift", "KOL", (("status", "i_drift"),)))


@dataclass
class Timing:
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    sequential: int = 0
    rps: float = math.nan
    concurrent: int = 0
    hits: int | None = None


@dataclass
class Row:
    query: str
    landkort_path: str
    datasette_path: str
    landkort: Timing = field(default_factory=Timing)
    datasette: Timing | None = None


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def measure(url: str, *, requests: int, concurrency: int, duration: float,
                  max_seconds: float, warmup: int = 3) -> Timing:
    """Sequential latency, then throughput with ``concurrency`` workers."""
    from aiohttp import ClientSession, ClientTimeout, TCPConnector

    timing = Timing()
    async with ClientSession(connector=TCPConnector(limit=concurrency),
                             timeout=ClientTimeout(total=300)) as http:

        async def get() -> None:
            async with http.get(url) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET {url}: HTTP {r.status}")

        for _ in range(warmup):
            await get()
        times: list[float] = []
        phase_end = time.perf_counter() + max_seconds
        while len(times) < requests and (len(times) < 5 or time.perf_counter() < phase_end):
            t0 = time.perf_counter()
            await get()
            times.append((time.perf_counter() - t0) * 1000)
        timing.p50_ms, timing.p95_ms, timing.sequential = (statistics.median(times),
                                                           p95(times), len(times))
        done = [0]
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await get()
                done[0] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        timing.rps = done[0] / (time.perf_counter() - start)
        timing.concurrent = done[0]
    return timing


async def hit_counts(landkort: Server, datasette: Server | None, query: Query
                     ) -> tuple[int, int | None]:
    """How many entries each side finds (landkort's JSON API; Datasette's JSON with the
    same facets, which also shows whether a facet timed out)."""
    from aiohttp import ClientSession

    async with ClientSession() as http:
        params = ([("q", query.q)] if query.q else []) + [*query.filters, ("limit", "1")]
        async with http.get(f"{landkort.url}/api/initiatives?{urlencode(params)}") as r:
            ours = int((await r.json())["total"])
        if datasette is None:
            return ours, None
        async with http.get(datasette.url + query.datasette(check=True)) as r:
            data = await r.json()
        if data.get("facets_timed_out"):
            raise RuntimeError(f"Datasette facets timed out: {data['facets_timed_out']}")
        if not query.api and len(data.get("facet_results", {})) != len(DS_FACETS):
            raise RuntimeError(f"Datasette computed {len(data.get('facet_results', {}))} "
                               f"facets, not {len(DS_FACETS)}")
        return ours, int(data["filtered_table_rows_count"])


# ------------------------------------------------------------------------ the run

async def bench(args: argparse.Namespace, tmp: Path, db_path: Path, ds_db: Path | None,
                say: Callable[[str], None]) -> list[Row]:
    queries = list(QUERIES)
    if args.api:
        queries += [Query("API " + q.label, q.q, q.filters, api=True) for q in QUERIES]
    servers: list[Server] = []
    try:
        landkort = await start_landkort(db_path, tmp)
        servers.append(landkort)
        datasette = None
        if ds_db is not None:
            datasette = await start_datasette(ds_db, args.datasette_venv, tmp)
            servers.append(datasette)
        rows: list[Row] = []
        for query in queries:
            row = Row(query.label, query.landkort(), query.datasette())
            ours, theirs = await hit_counts(landkort, datasette, query)
            say(f"{query.label}: hits landkort {ours}, Datasette "
                f"{'-' if theirs is None else theirs}")
            targets = [(landkort, row.landkort_path, "landkort")]
            if datasette is not None:
                targets.append((datasette, row.datasette_path, "datasette"))
            for server, path, side in targets:
                timing = await measure(server.url + path, requests=args.requests,
                                       concurrency=args.concurrency, duration=args.duration,
                                       max_seconds=args.max_seconds)
                timing.hits = ours if server is landkort else theirs
                setattr(row, side, timing)
                say(f"  {server.name:<9} p50 {timing.p50_ms:7.1f} ms  p95 "
                    f"{timing.p95_ms:7.1f} ms  ({timing.sequential} sequential)  "
                    f"{timing.rps:7.1f} req/s at {args.concurrency} ({timing.concurrent})")
            rows.append(row)
        return rows
    finally:
        for server in reversed(servers):
            await stop_server(server)


def verdict(rows: Sequence[Row]) -> tuple[bool, list[str]]:
    misses = []
    for row in rows:
        lk, ds = row.landkort, row.datasette
        if ds is not None and lk.rps < ds.rps:
            misses.append(f"{row.query}: {lk.rps:.1f} < {ds.rps:.1f} req/s")
        if lk.p95_ms >= GOAL_P95_MS:
            misses.append(f"{row.query}: p95 {lk.p95_ms:.0f} ms")
    return not misses, misses


def table(rows: Sequence[Row], concurrency: int) -> str:
    head = (f"{'query':<24} {'hits L/D':>11} {'landkort rps':>13} {'Datasette rps':>14} "
            f"{'L/D':>7} {'landkort p50/p95 ms':>20} {'Datasette p50/p95 ms':>21}")
    lines = [f"requests per second at concurrency {concurrency}; latency sequential", head,
             "-" * len(head)]
    for row in rows:
        lk, ds = row.landkort, row.datasette
        hits = f"{lk.hits}/{'-' if ds is None else ds.hits}"
        ds_rps = "-" if ds is None else f"{ds.rps:.1f}"
        ratio = "-" if ds is None or not ds.rps else f"{lk.rps / ds.rps:.2f}x"
        ds_lat = "-" if ds is None else f"{ds.p50_ms:.1f} / {ds.p95_ms:.1f}"
        lines.append(f"{row.query:<24} {hits:>11} {lk.rps:>13.1f} {ds_rps:>14} {ratio:>7} "
                     f"{lk.p50_ms:>9.1f} / {lk.p95_ms:<8.1f} {ds_lat:>21}")
    return "\n".join(lines)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args: argparse.Namespace) -> int:
    err = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=err, flush=True)

    datasette_version = None
    if not args.skip_datasette:
        datasette_version = ensure_datasette(args.datasette_venv, say)
    load = os.getloadavg()
    say(f"landkort {git_commit()}, {datasette_version or 'no Datasette'}; N={args.n:,}; "
        f"load average {load[0]:.2f} (other work on this machine skews the figures)")
    with tempfile.TemporaryDirectory(prefix="landkort-bench-public-") as name:
        tmp = Path(name)
        db_path = tmp / "bench.db"
        t0 = time.perf_counter()
        asyncio.run(seed(db_path, args.n))
        seeded = time.perf_counter() - t0
        say(f"seeded {args.n:,} entries through create_initiative in {seeded:.1f}s")
        ds_db = None
        if not args.skip_datasette:
            ds_db = tmp / f"{DS_NAME}.db"
            t0 = time.perf_counter()
            exported = export_for_datasette(db_path, ds_db, args.datasette_venv)
            say(f"exported {exported:,} rows with an FTS5 index for Datasette in "
                f"{time.perf_counter() - t0:.1f}s")
        rows = asyncio.run(bench(args, tmp, db_path, ds_db, say))
    ok, misses = verdict(rows)
    if args.json:
        print(json.dumps({
            "commit": git_commit(), "datasette": datasette_version, "n": args.n,
            "requests": args.requests, "concurrency": args.concurrency,
            "duration": args.duration, "load_average": load[0], "seed_seconds": seeded,
            "goal": {"met": ok, "misses": misses, "p95_ms": GOAL_P95_MS},
            "rows": [asdict(r) for r in rows]}, indent=2))
        return 0
    print()
    print(table(rows, args.concurrency))
    goal = "landkort ≥ Datasette rps on every query, p95 < 50 ms"
    if args.skip_datasette:
        goal = "p95 < 50 ms (Datasette skipped)"
    print(f"goal: {goal}: " + ("met" if ok else "NOT met — " + "; ".join(misses)))
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="published entries")
    parser.add_argument("--requests", type=int, default=50,
                        help="sequential requests per query and server (latency)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="stop a sequential phase after this long (at least 5 requests)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds of load at --concurrency per query and server")
    parser.add_argument("--api", action="store_true",
                        help="also the JSON lists (/api/initiatives vs .json)")
    parser.add_argument("--skip-datasette", action="store_true")
    parser.add_argument("--datasette-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--serve-landkort", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_landkort:
        asyncio.run(serve_landkort(args.serve_landkort, args.data_dir))
        return 0
    if args.n < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--n, --requests and --concurrency must be at least 1")
    # SIGTERM ends the run like Ctrl-C: servers stopped, temporary files removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted: servers stopped, temporary files removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
