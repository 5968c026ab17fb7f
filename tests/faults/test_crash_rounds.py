"""kill -9 the service at random points while it ingests a mailbox and sends a campaign.

Each round starts ``landkort run`` as a real process against a real IMAP server (Dovecot
when installed, else pymap), an aiosmtpd sink in this test's event loop and a database
(SQLite file, and PostgreSQL when configured), waits a seeded random time once the
service answers, and kills it with SIGKILL — no cleanup, no graceful shutdown. After the
rounds, one last run is allowed to finish the work and is stopped with SIGTERM. Then:

- every mail in the mailbox is stored exactly once and processed exactly once (one
  outcome each: no second queue item, bounce record or answer), and flagged on the
  server;
- every planned reminder step and every answer went out at least once and at most
  twice (only a crash between the SMTP server's 250 and our commit may resend, and then
  with the same Message-ID);
- nothing is left claimed, pending or half-done.

The figures are printed (``make test-faults`` shows them).
"""
from __future__ import annotations

import asyncio
import collections
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.db import Database
from bot.mail.models import BounceEvent, CampaignStep, OutboxMessage
from bot.registry.models import Initiative
from intake.inbox.models import InboundMessage
from moderation.models import Submission
from tests.faults.harness import ENTRIES, SEEDED_KEY, FaultWorld, Service, service_env
from tests.imap_servers import ImapServer
from tests.smtp_sink import SmtpSink

pytestmark = [pytest.mark.faults, pytest.mark.asyncio]

ROUNDS = int(os.environ.get("LANDKORT_TEST_FAULT_ROUNDS", "20"))
SEED = int(os.environ.get("LANDKORT_TEST_FAULT_SEED", "20261122"))


async def quiescent(db: Database, mails: int) -> bool:
    """All mail stored and processed, every due step planned and sent."""
    async with db.read() as session:
        stored = await session.scalar(select(func.count()).select_from(InboundMessage))
        open_mail = await session.scalar(select(func.count()).select_from(InboundMessage)
                                         .where(InboundMessage.state == "stored"))
        unsent = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.state.in_(("pending", "sending"))))
        planned = await session.scalar(select(func.count()).select_from(CampaignStep)
                                       .where(CampaignStep.step == 1))
    return stored == mails and open_mail == 0 and unsent == 0 and (planned or 0) >= ENTRIES


@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_kill_minus_nine_rounds(backend: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    async with FaultWorld(backend, tmp_path) as world:
        db, imap, url, kinds = world.db, world.imap, world.url, world.kinds
        raws = list(world.raws)
        rng.shuffle(raws)
        async with SmtpSink() as sink:
            env = service_env(url, imap, sink.port, tmp_path / "var")
            log_path = tmp_path / "service.log"
            # Mail arrives in four waves during the rounds, so kills land mid-fetch.
            waves = [raws[i::4] for i in range(4)]
            kills = 0
            for round_no in range(ROUNDS):
                if round_no % 5 == 0 and waves:
                    await imap.append(waves.pop(0))
                service = Service(env, log_path)
                service.start()
                await service.wait_healthy()
                await asyncio.sleep(rng.uniform(0.0, 1.5))
                service.kill9()
                kills += 1
            for wave in waves:
                await imap.append(wave)
            # The last run finishes the work and stops gracefully.
            service = Service(env, log_path)
            service.start()
            await service.wait_healthy()
            deadline = time.monotonic() + 120
            while not await quiescent(db, len(raws)):
                assert time.monotonic() < deadline, f"the work did not finish; see {log_path}"
                await asyncio.sleep(0.25)
            await asyncio.sleep(1.0)  # a last chance for anything unexpected to go out
            assert await service.terminate() == 0
            figures = await verify(db, imap, sink, len(raws), kinds, kills)
        with capsys.disabled():
            print(f"\nfaults[{backend}]: rounds={ROUNDS} seed={SEED} "
                  + " ".join(f"{k}={v}" for k, v in figures.items()))


async def verify(db: Database, imap: ImapServer, sink: SmtpSink, mails: int,
                 kinds: dict[str, int], kills: int) -> dict[str, Any]:
    async with db.read() as session:
        inbound = list(await session.scalars(select(InboundMessage)))
        submissions = list(await session.scalars(
            select(Submission).where(Submission.inbound_message_id.is_not(None))))
        bounces = await session.scalar(select(func.count()).select_from(BounceEvent))
        # (the mail seeded as sent before the run is what the bounces cite; not this run's)
        outbox = list(await session.scalars(select(OutboxMessage).where(
            OutboxMessage.idempotency_key.is_(None)
            | ~OutboxMessage.idempotency_key.startswith(SEEDED_KEY))))
        steps = list(await session.scalars(select(CampaignStep)))
        entry_ids = set(await session.scalars(select(Initiative.id)))
    # Stored exactly once, processed exactly once.
    assert len(inbound) == mails, "a mail was lost or stored twice"
    assert len({m.message_id for m in inbound}) == mails
    assert all(m.state in ("done", "quarantined") for m in inbound)
    assert all(m.lease_owner is None for m in inbound), "a message is still claimed"
    quarantined = [m for m in inbound if m.state == "quarantined"]
    assert len(quarantined) == kinds["oversized"]
    per_inbound = collections.Counter(s.inbound_message_id for s in submissions)
    assert max(per_inbound.values()) == 1, "a mail made two queue items"
    assert len(per_inbound) == kinds["reply"] + kinds["submission"]
    assert bounces == kinds["bounce"], "a bounce was recorded twice or not at all"
    flags = await imap.flags()
    assert len(flags) == mails and all("\\Seen" in f for f in flags.values()), \
        "a stored mail was not flagged on the server"
    # Sent at least once, at most twice; nothing stuck.
    assert all(o.state == "sent" for o in outbox), \
        collections.Counter(o.state for o in outbox)
    received = collections.Counter(str(r.message["Message-ID"]) for r in sink.messages)
    lost = [o.message_id for o in outbox if received[o.message_id] == 0]
    assert not lost, f"{len(lost)} mails were recorded as sent but never arrived"
    over = {mid: n for mid, n in received.items() if n > 2}
    assert not over, f"mails sent more than twice: {over}"
    duplicates = sum(1 for n in received.values() if n == 2)
    assert duplicates <= kills
    step_keys = collections.Counter((s.initiative_id, s.cycle, s.step) for s in steps)
    assert max(step_keys.values()) == 1
    reminders = [s for s in steps if s.step == 1]
    # Every stale entry was asked, once: the harness seeds ENTRIES of them and approves
    # no submission, and the bounces name other addresses (a bouncing contact's step
    # would be "skipped", still one step).
    assert len(entry_ids) == ENTRIES
    assert sorted(s.initiative_id for s in reminders) == sorted(entry_ids)
    assert all(s.outbox_id is not None or s.state == "skipped" for s in reminders)
    return {"mails": mails, "stored": len(inbound), "quarantined": len(quarantined),
            "queue_items": len(submissions), "bounces": bounces, "steps": len(steps),
            "outbox": len(outbox), "smtp_received": sum(received.values()),
            "duplicates": duplicates, "losses": len(lost), "kills": kills}
