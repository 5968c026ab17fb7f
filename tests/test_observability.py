"""/metrics and /healthz: what they count, who may read them, and when health fails."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.appkeys import WORKERS
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail import outbox
from bot.mail.sender import OutboxSender
from bot.mail.templates import RenderedMail
from intake.inbox.store import store_message
from intake.mail.processor import process_pending
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.asyncio
FIXTURES = Path(__file__).parent / "fixtures" / "mail"


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if got == wanted:
            return float(match.group(3))
    return 0.0


async def scrape(client: TestClient) -> str:  # type: ignore[type-arg]
    resp = await client.get("/metrics")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return await resp.text()


async def test_metrics_move_after_a_processed_and_a_sent_mail(
        db: Database, settings: Settings) -> None:
    async with SmtpSink() as sink:
        s = settings.replace(smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=sink.port,
                             smtp_security="plain")
        app = create_app(s, db, components=("bot.public.web",), start_workers=False)
        async with TestClient(TestServer(app)) as client:
            before = await scrape(client)
            raw = (FIXTURES / "ingen_aendringer.eml").read_bytes()
            await store_message(db, raw, source="cli")
            await process_pending(db, s)
            async with db.write() as session:
                await outbox.enqueue(session, outbox.compose(
                    s, to_addr="modtager@example.dk", kind="receipt",
                    mail=RenderedMail(subject="Prøve", text="Hej\n", html=None)),
                    kind="receipt")
            sender = OutboxSender(s, db)
            try:
                await sender.drain()
            finally:
                await sender.stop()
            assert (await client.get("/")).status == 200
            after = await scrape(client)
    processed = sum(float(v) for v in re.findall(
        r"^landkort_mail_processed_total\{[^}]*\} (\S+)$", after, re.M)) - sum(
        float(v) for v in re.findall(r"^landkort_mail_processed_total\{[^}]*\} (\S+)$",
                                     before, re.M))
    assert processed == 1
    assert sample(after, "landkort_mail_sent_total") - sample(
        before, "landkort_mail_sent_total") >= 1  # the receipt, and any answer mail
    assert sample(after, "landkort_inbound_messages", state="done") == sample(
        before, "landkort_inbound_messages", state="done") + 1
    assert sample(after, "landkort_outbox_messages", state="sent") >= 1
    assert sample(after, "landkort_outbox_messages", state="pending") == 0
    assert sample(after, "landkort_http_request_duration_seconds_count",
                  route="/", status="2xx") >= 1


async def test_metrics_and_details_only_for_allowed_callers(
        sqlite_db: Database, settings: Settings) -> None:
    s = settings.replace(metrics_allow="10.0.0.0/8", metrics_token="t" * 32)
    app = create_app(s, sqlite_db, components=(), start_workers=False)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 403
        assert (await client.get("/metrics", headers={
            "Authorization": "Bearer wrong"})).status == 403
        health = await (await client.get("/healthz")).json()
        assert health == {"status": "ok", "database": "ok"}  # no details for strangers
        ok = await client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32})
        assert ok.status == 200
        detailed = await (await client.get("/healthz", headers={
            "Authorization": "Bearer " + "t" * 32})).json()
        assert detailed["workers"] == [] and detailed["stuck"] == []


class Failing(LoopWorker):
    """A worker whose every round fails (as an IMAP fetcher refused by its server)."""

    name = "failing"
    idle_seconds = 0.01
    error_pause_seconds = 0.01

    async def run_once(self) -> int:
        self.note_error("IMAP OSError: connection refused")
        await asyncio.sleep(0.005)
        return 0


class Healthy(LoopWorker):
    name = "healthy"
    idle_seconds = 0.01

    async def run_once(self) -> int:
        return 0


async def test_healthz_fails_when_a_worker_is_stuck(sqlite_db: Database,
                                                    settings: Settings) -> None:
    s = settings.replace(health_stuck_seconds=0.1)
    app = create_app(s, sqlite_db, components=())
    app[WORKERS] += [Failing(), Healthy()]
    async with TestClient(TestServer(app)) as client:
        await asyncio.sleep(0.3)
        resp = await client.get("/healthz")
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "degraded"
        assert body["stuck"] == ["failing"]
        by_name = {w["name"]: w for w in body["workers"]}
        assert by_name["failing"]["last_success"] is None
        assert "connection refused" in by_name["failing"]["last_error"]
        assert by_name["healthy"]["last_success"] is not None
        text = await scrape(client)
        assert sample(text, "landkort_worker_stuck", worker="failing") == 1
        assert sample(text, "landkort_worker_stuck", worker="healthy") == 0
        assert sample(text, "landkort_worker_last_success_timestamp_seconds",
                      worker="healthy") > 0
    relaxed = create_app(settings, sqlite_db, components=())
    relaxed[WORKERS] += [Failing()]
    async with TestClient(TestServer(relaxed)) as client:
        await asyncio.sleep(0.05)
        assert (await client.get("/healthz")).status == 200  # within health_stuck_seconds
