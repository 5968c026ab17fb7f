"""Benchmark: reminder campaigns and the outbox sender.

1. Plans and queues reminders for N stale entries (default 10,000), then sends them
   with the outbox worker to a local aiosmtpd sink (a separate process that accepts
   everything), and — in the same run, to the same sink — sends the same messages
   with one ``aiosmtplib.send`` per message (a new connection each), the naive way.
   Prints mails per second for both and their ratio (goal: the worker ≥ 5×), and the
   ceiling: the same mails over the same number of reused connections with no database
   at all, with the share of time the sink process was busy (when the sink is the
   bottleneck, no sender can beat that figure on this machine).
2. Times planning (the one due-entries query + the pure planner) as the registry grows
   1,000 → 10,000 → 100,000 stale entries, and prints the time per entry (goal: linear
   or better).

    .venv/bin/python benchmarks/campaign.py [--n 10000] [--sizes 1000,10000,100000]
        [--baseline-n 2000] [--concurrency 4] [--database-url postgresql+asyncpg://…]

SQLite files go to a temporary folder. With --database-url (PostgreSQL) the tables of
that database are dropped and recreated: point it at a throw-away database.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiosmtplib  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot.campaigns.reminders import execute, load_due, plan  # noqa: E402
from bot.core.db import Database, dbnow  # noqa: E402
from bot.core.migrate import upgrade  # noqa: E402
from bot.core.settings import Settings, load_settings  # noqa: E402
from bot.mail.models import CampaignStep, OutboxBody, OutboxMessage  # noqa: E402
from bot.mail.sender import OutboxSender  # noqa: E402
from bot.registry.models import Contact, Initiative

# ---------------------------------------------------------------------------------------
# The sink: aiosmtpd in its own process, accepting everything


def _sink_main(port: int, ready: Any, rtt_ms: float, cert: str | None) -> None:
    import ssl

    from aiosmtpd.smtp import SMTP

    tls: ssl.SSLContext | None = None
    if cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, cert)

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    class SlowSMTP(SMTP):
        """Every reply (greeting included) comes ``rtt_ms`` late: a relay across a
        network instead of on loopback."""

        async def push(self, status: Any) -> None:
            await asyncio.sleep(rtt_ms / 1000)
            await super().push(status)

    factory = SlowSMTP if rtt_ms > 0 else SMTP

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: factory(Accept(), hostname="sink", tls_context=tls), "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    import logging

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> str:
    """A throw-away certificate and key (one PEM file) for the STARTTLS variant."""
    import subprocess

    pem = folder / "sink.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(pem), "-out",
                    str(folder / "cert.pem")], check=True, capture_output=True)
    pem.write_bytes(pem.read_bytes() + (folder / "cert.pem").read_bytes())
    return str(pem)


def start_sink(rtt_ms: float = 0.0, cert: str | None = None) -> tuple[Any, int]:
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_sink_main, args=(port, ready, rtt_ms, cert), daemon=True)
    proc.start()
    if not ready.wait(30):
        raise RuntimeError("the SMTP sink did not start")
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def reused_connections(raws: list[tuple[str, str, bytes]], port: int, concurrency: int,
                             starttls: bool) -> float:
    """Seconds to send ``raws`` over ``concurrency`` reused connections with no database:
    the SMTP ceiling the outbox worker could reach against this sink on this machine."""
    async def one(part: list[tuple[str, str, bytes]]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=starttls,
                                 validate_certs=False, local_hostname="bench")
        await client.connect()
        for mail_from, to, raw in part:
            await client.sendmail(mail_from, [to], raw)
        await client.quit()

    start = time.perf_counter()
    await asyncio.gather(*[one(raws[i::concurrency]) for i in range(concurrency)])
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# Data


async def fresh_db(url: str | None, folder: Path, name: str) -> Database:
    if url:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    else:
        db = Database(f"sqlite+aiosqlite:///{folder / name}.db")
    await upgrade(db)
    return db


async def add_stale_entries(db: Database, n: int, *, chunk: int = 5000) -> None:
    """n published entries last confirmed 400 days ago, each with its own contact."""
    confirmed = dbnow() - timedelta(days=400)
    now = dbnow()
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        async with db.write() as session:
            await session.execute(insert(Contact), [
                {"id": i + 1, "name": f"Kontakt {i}", "email": f"kontakt{i}@example.dk",
                 "phone": None, "language": "en" if i % 10 == 0 else "da",
                 "email_status": "opted_out" if i % 50 == 0 else "ok", "soft_bounces": 0,
                 "created_at": now, "updated_at": now} for i in range(start, stop)])
            await session.execute(insert(Initiative), [
                {"id": i + 1, "slug": f"initiativ-{i}", "title": f"Initiativ nummer {i}",
                 "description": "Borgere måler blodtryk hjemme; data ses af kommunen.",
                 "status": "i_drift", "participants": ["kommune", "sygehus"],
                 "regions": ["midtjylland"], "municipalities": ["Aarhus"],
                 "organisation": "Region Midtjylland", "patient_groups": ["Hypertension"],
                 "technology": ["Blodtryksmåler"], "start_date": "2020-01",
                 "end_date": None, "evaluation_url": None, "website": None,
                 "sector": "tvaersektoriel", "contact_id": i + 1, "version": 1,
                 "last_confirmed_at": confirmed, "unconfirmed": False,
                 "needs_new_contact": False, "merged_into_id": None,
                 "created_at": confirmed, "updated_at": confirmed}
                for i in range(start, stop)])
    if db.is_postgres:
        async with db.write() as session:
            for table in ("contacts", "initiatives"):
                await session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"))


def bench_settings(folder: Path, port: int, concurrency: int) -> Settings:
    return load_settings(environ={}, data_dir=str(folder), secret_key="b" * 32,
                         smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_security="plain", smtp_concurrency=concurrency,
                         smtp_rate_per_minute=100_000_000,
                         sending_days="mon,tue,wed,thu,fri,sat,sun",
                         sending_window="00:00-23:59")


# ---------------------------------------------------------------------------------------
# Runs


async def sending(args: argparse.Namespace, folder: Path) -> None:
    cert = self_signed(folder) if args.starttls else None
    proc, port = start_sink(args.rtt_ms, cert)
    if args.rtt_ms:
        print(f"(the sink answers every SMTP command {args.rtt_ms:g} ms late)")
    if cert:
        print("(STARTTLS with a self-signed RSA-2048 certificate, as a relay on port 587)")
    try:
        settings = bench_settings(folder, port, args.concurrency)
        db = await fresh_db(args.database_url, folder, "send")
        try:
            await add_stale_entries(db, args.n)
            now = dbnow()
            t0 = time.perf_counter()
            async with db.read() as session:
                entries, steps = await load_due(session, now, settings)
            the_plan = plan(entries, steps, now, settings)
            t1 = time.perf_counter()
            result = await execute(db, settings, the_plan.due, now)
            t2 = time.perf_counter()
            print(f"planned {len(the_plan.due)} steps for {args.n} stale entries in "
                  f"{t1 - t0:.2f}s; queued {result.sent} reminders (+{result.skipped} "
                  f"skipped: opted out) in {t2 - t1:.2f}s "
                  f"({result.sent / (t2 - t1):.0f}/s: tokens, rendering, outbox rows)")

            async with db.read() as session:
                raws = [(r.from_addr, r.to_addr, bytes(r.raw)) for r in (await session.execute(
                    select(OutboxMessage.from_addr, OutboxMessage.to_addr, OutboxBody.raw)
                    .join(OutboxBody, OutboxBody.outbox_id == OutboxMessage.id)
                    .order_by(OutboxMessage.id).limit(args.baseline_n))).all()]

            factory = None
            if cert:
                def factory() -> aiosmtplib.SMTP:
                    return aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                                           validate_certs=False, local_hostname="bench")
            # The ceiling is measured right before and right after the worker, and the
            # ratio uses their mean: on 2 cores one ceiling run alone swung by ±20 %.
            ceiling_before = len(raws) / await reused_connections(
                raws, port, args.concurrency, bool(cert))
            sender = OutboxSender(settings, db, idle_seconds=0.01, client_factory=factory)
            s3, t3 = cpu_seconds(proc.pid), time.perf_counter()
            sent = await sender.drain()
            s4, t4 = cpu_seconds(proc.pid), time.perf_counter()
            connects = sum(c.connects for c in sender.connections)
            await sender.stop()
            worker_rate = sent / (t4 - t3)
            print(f"outbox worker: {sent} mails in {t4 - t3:.2f}s = {worker_rate:.0f} mails/s "
                  f"({args.concurrency} connections, {connects} connects; claims, SMTP and "
                  f"the 'sent' records included: {sender.recorder.commits} commits, at most "
                  f"one unrecorded mail per connection); "
                  f"the sink was busy {(s4 - s3) / (t4 - t3):.0%} of the time")
        finally:
            await db.dispose()

        s_c = cpu_seconds(proc.pid)
        ceiling_s = await reused_connections(raws, port, args.concurrency, bool(cert))
        ceiling_after = len(raws) / ceiling_s
        sink_busy = (cpu_seconds(proc.pid) - s_c) / ceiling_s
        ceiling = (ceiling_before + ceiling_after) / 2
        print(f"ceiling: the same mails over {args.concurrency} reused connections with no "
              f"database: {ceiling:.0f} mails/s, the mean of {ceiling_before:.0f} before and "
              f"{ceiling_after:.0f} after the worker (the sink busy {sink_busy:.0%} of the "
              "time)")
        t5 = time.perf_counter()
        for mail_from, to, raw in raws:
            await aiosmtplib.send(raw, sender=mail_from, recipients=[to],
                                  hostname="127.0.0.1", port=port, start_tls=bool(cert),
                                  validate_certs=False)
        t6 = time.perf_counter()
        base_rate = len(raws) / (t6 - t5)
        print(f"baseline aiosmtplib.send per message (new connection each, no database): "
              f"{len(raws)} mails in {t6 - t5:.2f}s = {base_rate:.0f} mails/s")
        print(f"ratio worker / baseline: {worker_rate / base_rate:.1f}x (goal >= 5x); "
              f"ceiling / baseline: {ceiling / base_rate:.1f}x; worker / ceiling: "
              f"{worker_rate / ceiling:.0%}")
    finally:
        proc.terminate()
        proc.join(10)


async def planning(args: argparse.Namespace, folder: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(folder),
                             sending_days="mon,tue,wed,thu,fri,sat,sun",
                             sending_window="00:00-23:59")
    print("\nplanning (one query for due entries + latest steps, then the pure planner):")
    print(f"{'entries':>9} {'load s':>8} {'plan s':>8} {'total s':>8} {'µs/entry':>9}")
    for n in [int(x) for x in args.sizes.split(",") if x]:
        db = await fresh_db(args.database_url, folder, f"plan{n}")
        try:
            await add_stale_entries(db, n)
            now = dbnow()
            # Half of the entries are in the middle of a cycle (a step 1 exists), so the
            # latest-step join has work to do.
            async with db.read() as session:
                entries, steps = await load_due(session, now, settings)
            first = plan(entries, steps, now, settings)
            rows = [{"initiative_id": p.initiative_id, "cycle": p.cycle, "step": 1,
                     "contact_id": p.contact_id, "state": "sent", "created_at": now}
                    for p in first.due if p.initiative_id % 2 == 0]
            for i in range(0, len(rows), 5000):
                async with db.write() as session:
                    await session.execute(insert(CampaignStep), rows[i:i + 5000])
            best = (float("inf"), 0.0, 0.0)
            for _ in range(3):
                t0 = time.perf_counter()
                async with db.read() as session:
                    entries, steps = await load_due(session, now, settings)
                t1 = time.perf_counter()
                result = plan(entries, steps, now + timedelta(days=15), settings)
                t2 = time.perf_counter()
                if t2 - t0 < best[0]:
                    best = (t2 - t0, t1 - t0, t2 - t1)
            total, load, pure = best
            print(f"{n:>9} {load:>8.3f} {pure:>8.3f} {total:>8.3f} {total / n * 1e6:>9.1f}"
                  f"   ({len(result.due)} due)")
        finally:
            await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="stale entries to send to")
    parser.add_argument("--baseline-n", type=int, default=2000,
                        help="messages for the one-connection-per-mail baseline")
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="registry sizes for the planning benchmark")
    parser.add_argument("--concurrency", type=int, default=4, help="SMTP connections")
    parser.add_argument("--database-url", default="",
                        help="a throw-away PostgreSQL database (default: SQLite files)")
    parser.add_argument("--rtt-ms", type=float, default=0.0,
                        help="delay every sink reply by this many ms (a relay over a "
                             "network; default 0: loopback)")
    parser.add_argument("--starttls", action="store_true",
                        help="the sink offers STARTTLS and both senders use it")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--skip-plan", action="store_true")
    args = parser.parse_args()
    print(f"landkort campaign benchmark: n={args.n}, {args.concurrency} SMTP connections, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="landkort-bench-") as tmp:
        folder = Path(tmp)
        if not args.skip_send:
            await sending(args, folder)
        if not args.skip_plan:
            await planning(args, folder)


if __name__ == "__main__":
    asyncio.run(main())
