"""Soak: the whole service for a set time under a steady stream of mail.

Usage::

    .venv/bin/python benchmarks/soak.py [--seconds 120] [--rate 10] [--server dovecot|pymap]

Starts a local IMAP server (Dovecot when installed, else pymap), an aiosmtpd sink and
``landkort run`` as a child process on a fresh SQLite database (``--database-url`` for
PostgreSQL) with 200 stale entries (so the campaign sends reminders meanwhile). A feeder
appends mail at ``--rate`` messages per second — replies with reply tokens (changes and
confirmations), out-of-office auto-replies, DSN bounces and new submissions, mixed — for
``--seconds``. Every 5 s it samples the service: mails stored and processed, backlog
(stored but not processed; outbox rows not yet sent), the child's resident memory (VmRSS)
and ERROR lines in its log. At the end it prints the samples, throughput, the memory
trend (last-quarter average against the first quarter after warm-up) and the error count.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

import bot.schema  # noqa: E402, F401  (every table: Database checks the schema is whole)
from bot.core.db import Database  # noqa: E402
from bot.core.migrate import upgrade  # noqa: E402
from bot.mail.models import OutboxMessage  # noqa: E402
from intake.inbox.models import InboundMessage  # noqa: E402
from tests.faults import harness  # noqa: E402
from tests.imap_servers import dovecot_available, make_server  # noqa: E402
from tests.smtp_sink import SmtpSink  # noqa: E402


def rss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"VmRSS:\s+(\d+)", text)
    return int(m.group(1)) if m else 0


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.read() as session:
        stored = await session.scalar(select(func.count()).select_from(InboundMessage))
        waiting = await session.scalar(select(func.count()).select_from(InboundMessage)
                                       .where(InboundMessage.state == "stored"))
        unsent = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.state.in_(("pending", "sending"))))
    return int(stored or 0), int(waiting or 0), int(unsent or 0)


def stream(tokens: list[tuple[str, str]], rng: random.Random) -> list[bytes]:
    """One 'cycle' of mixed mail, shuffled."""
    raws, _ = harness.build_mailbox(tokens)
    raws = [r for r in raws if len(r) < 100_000]  # the oversized one is for fault tests
    rng.shuffle(raws)
    return raws


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=10.0, help="mails per second")
    parser.add_argument("--server", choices=("dovecot", "pymap"),
                        default="dovecot" if dovecot_available() else "pymap")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="landkort-soak-"))
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'soak.db'}"
    db = Database(url)
    await upgrade(db)
    harness.ENTRIES = 200
    tokens = await harness.seed(db)
    rng = random.Random(7)
    imap = make_server(args.server)
    await imap.astart()
    sent_total = 0
    samples: list[tuple[float, int, int, int, int, int]] = []
    try:
        async with SmtpSink() as sink:
            env = harness.service_env(url, imap, sink.port, tmp / "var")
            env["LANDKORT_LOG_LEVEL"] = "INFO"
            env["LANDKORT_IMAP_POLL_SECONDS"] = "2"
            env["LANDKORT_OUTBOX_LEASE_SECONDS"] = "60"
            env["LANDKORT_PROCESSING_LEASE_SECONDS"] = "60"
            env["LANDKORT_IMAP_LEASE_SECONDS"] = "30"
            log_path = tmp / "service.log"
            service = harness.Service(env, log_path)
            service.start()
            await service.wait_healthy()
            assert service.proc is not None
            start = time.monotonic()
            next_sample = start
            queue: list[bytes] = []
            while (now := time.monotonic()) - start < args.seconds:
                due = int((now - start) * args.rate) - sent_total
                if due > 0:
                    batch: list[bytes] = []
                    while len(batch) < due:
                        if not queue:
                            queue = stream(tokens, rng)
                        # Distinct Message-IDs: the same text sent again is new mail.
                        raw = queue.pop()
                        batch.append(raw.replace(b"Message-ID: <",
                                                 f"Message-ID: <s{sent_total + len(batch)}."
                                                 .encode(), 1))
                    await imap.append(batch)
                    sent_total += len(batch)
                if now >= next_sample:
                    stored, waiting, unsent = await counts(db)
                    errors = sum(1 for line in log_path.read_text(errors="replace")
                                 .splitlines() if " ERROR " in line)
                    samples.append((now - start, sent_total, stored, waiting, unsent,
                                    rss_kib(service.proc.pid)))
                    print(f"t={now - start:6.1f}s appended={sent_total:6d} stored={stored:6d} "
                          f"backlog={waiting:4d} outbox_backlog={unsent:4d} "
                          f"rss={samples[-1][5] / 1024:7.1f} MiB errors={errors}", flush=True)
                    next_sample += 5.0
                await asyncio.sleep(0.05)
            # Drain: let the backlog empty, then stop gracefully.
            drain_start = time.monotonic()
            while time.monotonic() - drain_start < 120:
                stored, waiting, unsent = await counts(db)
                if stored >= sent_total and waiting == 0 and unsent == 0:
                    break
                await asyncio.sleep(0.5)
            elapsed = time.monotonic() - start
            code = await service.terminate()
            log = log_path.read_text(errors="replace").splitlines()
    finally:
        await imap.astop()
        await db.dispose()
    stored, waiting, unsent = (samples[-1][2], samples[-1][3], samples[-1][4]) \
        if samples else (0, 0, 0)
    final_stored, final_waiting, final_unsent = await _final(url)
    errors = [line for line in log if " ERROR " in line]
    rss = [s[5] for s in samples[2:]] or [s[5] for s in samples]
    quarter = max(1, len(rss) // 4)
    first, last = statistics.mean(rss[:quarter]), statistics.mean(rss[-quarter:])
    print()
    print(f"soak: seconds={args.seconds:.0f} rate={args.rate}/s server={args.server} "
          f"db={'postgresql' if url.startswith('postgresql') else 'sqlite'}")
    print(f"soak: appended={sent_total} stored={final_stored} backlog_end={final_waiting} "
          f"outbox_backlog_end={final_unsent} throughput={final_stored / elapsed:.1f} msg/s")
    print(f"soak: smtp_received={len(sink.messages)} rss_first_quarter={first / 1024:.1f} MiB "
          f"rss_last_quarter={last / 1024:.1f} MiB growth={100 * (last - first) / first:+.1f}%")
    print(f"soak: errors={len(errors)} exit={code}")
    for line in errors[:10]:
        print("  " + line)


async def _final(url: str) -> tuple[int, int, int]:
    db = Database(url)
    try:
        return await counts(db)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
