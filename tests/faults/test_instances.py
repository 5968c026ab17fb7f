"""Several ``landkort run`` instances on one PostgreSQL database share the work safely.

Two instances run at once against the same database, IMAP mailbox and SMTP relay, while
mail arrives in waves and 24 stale entries are due for reminders. One of them is killed
with SIGKILL mid-run and started again. Afterwards the same promises as for one instance
hold: every mail stored and processed once, every step planned once and sent at least
once and at most twice, nothing left claimed — and the IMAP mailbox was fetched by one
instance at a time (the lease), which the other took over when its holder died.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.core.db import Database
from bot.core.leases import holder
from tests.faults.harness import FaultWorld, Service, service_env
from tests.faults.test_crash_rounds import quiescent, verify
from tests.imap_servers import free_port
from tests.smtp_sink import SmtpSink

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]


@pytest.mark.timeout(600)
async def test_two_instances_share_one_postgresql_database(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with FaultWorld("postgres", tmp_path) as world:
        db, imap, url, raws, kinds = world.db, world.imap, world.url, world.raws, world.kinds
        async with SmtpSink() as sink:
            def instance(name: str) -> Service:
                env = service_env(url, imap, sink.port, tmp_path / name)
                env["LANDKORT_INSTANCE_NAME"] = name
                env["LANDKORT_HTTP_PORT"] = str(free_port())
                return Service(env, tmp_path / f"{name}.log")

            a, b = instance("alpha"), instance("beta")
            a.start()
            b.start()
            await asyncio.gather(a.wait_healthy(), b.wait_healthy())
            waves = [raws[i::3] for i in range(3)]
            await imap.append(waves[0])
            owners: set[str] = set()
            deadline = time.monotonic() + 30
            while not owners and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                owners = {o for o in [await _imap_holder(db)] if o}
            assert owners, "no instance took the IMAP lease"
            first = owners.pop()
            # Kill the instance that fetches; the other must take over the mailbox.
            victim, survivor = (a, b) if first.startswith("alpha") else (b, a)
            await imap.append(waves[1])
            await asyncio.sleep(0.5)
            victim.kill9()
            await imap.append(waves[2])
            deadline = time.monotonic() + 60
            while not (await _imap_holder(db) or "").startswith(
                    "beta" if victim is a else "alpha"):
                assert time.monotonic() < deadline, "the lease was not taken over"
                await asyncio.sleep(0.2)
            victim.start()  # it comes back and works beside the new holder
            await victim.wait_healthy()
            deadline = time.monotonic() + 120
            while not await quiescent(db, len(raws)):
                assert time.monotonic() < deadline, f"work did not finish; see {tmp_path}"
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)
            assert await survivor.terminate() == 0
            assert await victim.terminate() == 0
            figures = await verify(db, imap, sink, len(raws), kinds, kills=1)
        with capsys.disabled():
            print(f"\ninstances[postgres]: instances=2 first_fetcher={first} "
                  + " ".join(f"{k}={v}" for k, v in figures.items()))


async def _imap_holder(db: Database) -> str | None:
    from sqlalchemy import select

    from bot.core.leases import Lease

    async with db.read() as session:
        names = list(await session.scalars(select(Lease.name).where(
            Lease.name.like("imap:%"))))
    return await holder(db, names[0]) if names else None

