"""What operators watch: ``/healthz`` per worker and a Prometheus ``/metrics`` endpoint.

``/healthz`` answers every caller with ``status`` and ``database`` (a load balancer's
probe); callers allowed by ``metrics_allow`` or ``metrics_token`` also get each worker's
last successful round and last error. It answers 503 when the database is away or a
running worker has not finished a round without error for ``health_stuck_seconds``
(an IMAP server that refuses us, a relay that is down, a loop that hangs).

``/metrics`` (the Prometheus text format) is for the same allowed callers only: the
queue by state, the outbox by state (its depth and failures), the received mail by state
(quarantine included), campaign steps by state and each worker's last success, read
from the database at scrape time, next to the process's counters
(:mod:`bot.core.metrics`: mail processed and sent, IMAP fetches, request latency).
Queue sizes and mail counts say something about the people who write to us, so they are
not public.
"""
from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Table, func, select, text

from bot.core.appkeys import DB, SETTINGS, WORKERS
from bot.core.metrics import HTTP_REQUEST_SECONDS, REGISTRY
from bot.core.settings import Settings
from bot.core.workers import Worker
from bot.mail.models import CampaignStep, OutboxMessage
from intake.inbox.models import InboundMessage
from moderation.models import Submission

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# (metric name, help, table): rows counted by their ``state`` column at scrape time.
_STATE_TABLES: tuple[tuple[str, str, Any], ...] = (
    ("landkort_queue_items", "Submissions in the moderation queue, by state.", Submission),
    ("landkort_outbox_messages", "Outgoing mails by state (pending and sending: the "
     "outbox depth; failed: given up).", OutboxMessage),
    ("landkort_inbound_messages", "Received mails by state (quarantined: poison mail "
     "waiting for a moderator).", InboundMessage),
    ("landkort_campaign_steps", "Reminder campaign steps by state.", CampaignStep),
)


def allowed(request: web.Request, settings: Settings) -> bool:
    """May this caller read ``/metrics`` and the detailed health? Its address (after
    ``trusted_proxies``) in ``metrics_allow``, or the ``metrics_token`` as a bearer
    token (compared in constant time)."""
    if settings.metrics_token:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
                given[7:].strip().encode(), settings.metrics_token.encode()):
            return True
    try:
        remote = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    for entry in settings.metrics_allow.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            if remote in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def worker_report(workers: Iterable[Any], now: float, stuck_after: float) -> list[dict[str, Any]]:
    """Each worker's name, whether it runs, its last success and error, and whether it
    is stuck (running, and no round without error for ``stuck_after`` seconds)."""
    out = []
    for worker in workers:
        started = getattr(worker, "started_at", None)
        success = getattr(worker, "last_success", None)
        running = bool(getattr(worker, "running", started is not None))
        since = success if success is not None else started
        stuck = bool(running and since is not None and now - since > stuck_after)
        out.append({
            "name": worker.name, "running": running,
            "last_success": _iso(success),
            "seconds_since_success": round(now - success, 1) if success else None,
            "last_error": getattr(worker, "last_error", None),
            "last_error_at": _iso(getattr(worker, "last_error_at", None)),
            "stuck": stuck,
        })
    return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def healthz(request: web.Request) -> web.Response:
    """The probe: 200 when the database answers and no worker is stuck, else 503."""
    settings = request.app[SETTINGS]
    try:
        async with request.app[DB].read() as session:
            await session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is a probe
        database = f"error: {type(exc).__name__}"
    running: list[Worker] = request.app[WORKERS]
    workers = worker_report(running, time.time(), settings.health_stuck_seconds)
    stuck = [w["name"] for w in workers if w["stuck"]]
    healthy = database == "ok" and not stuck
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "database": database}
    if allowed(request, settings):
        body["workers"] = workers
        body["stuck"] = stuck
    return web.json_response(body, status=200 if healthy else 503)


class _Snapshot(Collector):
    """The gauges read for one scrape (a collector over values already fetched)."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition (allowed callers only; 403 for others)."""
    settings = request.app[SETTINGS]
    if not allowed(request, settings):
        raise web.HTTPForbidden(text="forbidden\n")
    families: list[GaugeMetricFamily] = []
    async with request.app[DB].read() as session:
        for name, help_text, model in _STATE_TABLES:
            table: Table = model.__table__
            gauge = GaugeMetricFamily(name, help_text, labels=["state"])
            rows = await session.execute(select(table.c.state, func.count())
                                         .group_by(table.c.state))
            for state, count in rows.all():
                gauge.add_metric([str(state)], float(count))
            families.append(gauge)
    last = GaugeMetricFamily("landkort_worker_last_success_timestamp_seconds",
                             "When each worker last finished a round without error "
                             "(IMAP fetch: intake-imap; sending: outbox-sender).",
                             labels=["worker"])
    up = GaugeMetricFamily("landkort_worker_stuck", "1 when a running worker has not "
                           "succeeded for health_stuck_seconds.", labels=["worker"])
    running: list[Worker] = request.app[WORKERS]
    for report, worker in zip(worker_report(running, time.time(),
                                            settings.health_stuck_seconds),
                              running, strict=True):
        success = getattr(worker, "last_success", None)
        if success is not None:
            last.add_metric([report["name"]], success)
        up.add_metric([report["name"]], 1.0 if report["stuck"] else 0.0)
    families += [last, up]
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(families))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def request_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request by its route's pattern (``/initiativ/{slug}``, never the path
    itself: paths carry tokens and would grow the label set without bound) and status
    class."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        name = resource.canonical if resource is not None else "(unmatched)"
        if name.startswith("/static"):
            name = "/static"
        HTTP_REQUEST_SECONDS.labels(name, f"{status // 100}xx").observe(
            time.perf_counter() - started)


class RouteAccessLogger(AbstractAccessLogger):
    """The access log (``access_log = true``): ``GET /ret/{token} 200 12.3ms`` — the
    route's pattern, never the path, which carries reply and unsubscribe tokens that must
    not end up in logs (tests/test_secrets_in_logs.py)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        match_info = getattr(request, "match_info", None)
        resource = match_info.route.resource if match_info is not None else None
        route = resource.canonical if resource is not None else "(unmatched)"
        self.logger.info("%s %s %s %.1fms", request.method, route, response.status,
                         time * 1000)


def setup(app: web.Application) -> None:
    """Add ``/healthz`` and ``/metrics`` (called by :func:`bot.app.create_app`)."""
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/metrics", metrics, name="metrics")


__all__ = ["RouteAccessLogger", "allowed", "healthz", "metrics", "request_metrics", "setup",
           "worker_report"]
