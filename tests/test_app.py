"""The web app's skeleton: health probe, security headers, worker lifecycle."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.appkeys import WORKERS
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.workers import LoopWorker

pytestmark = pytest.mark.asyncio


class CountingWorker(LoopWorker):
    name = "counter"
    idle_seconds = 0.01

    def __init__(self) -> None:
        super().__init__()
        self.items = 0
        self.failures = 0

    async def run_once(self) -> int:
        self.items += 1
        if self.items == 2:
            self.failures += 1
            raise RuntimeError("a bad item")  # must not kill the loop
        await asyncio.sleep(0.001)
        return 0


async def test_healthz_and_headers(sqlite_db: Database, settings: Settings) -> None:
    app = create_app(settings, sqlite_db, components=(), start_workers=False)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200
        assert (await resp.json())["database"] == "ok"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


async def test_workers_run_under_the_app_and_survive_errors(
        sqlite_db: Database, settings: Settings) -> None:
    app = create_app(settings, sqlite_db, components=())
    worker = CountingWorker()
    worker.error_pause_seconds = 0.01
    app[WORKERS].append(worker)
    async with TestClient(TestServer(app)) as client:
        for _ in range(200):
            if worker.items >= 4:
                break
            await asyncio.sleep(0.01)
        assert (await client.get("/healthz")).status == 200
    assert worker.failures == 1 and worker.items >= 4
    assert worker._task is None  # stopped with the app


@pytest.mark.parametrize("trusted,headers,remote,secure", [
    ("", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}, "127.0.0.1", False),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
     "203.0.113.9", True),
    # a client-written hop left of the real client proves nothing
    ("127.0.0.1,10.0.0.2", {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.2"},
     "203.0.113.9", False),
])
async def test_forwarded_headers_only_from_trusted_proxies(
        sqlite_db: Database, settings: Settings, trusted: str, headers: dict[str, str],
        remote: str, secure: bool) -> None:
    from aiohttp import web

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"remote": request.remote, "secure": request.secure})

    app = create_app(settings.replace(trusted_proxies=trusted), sqlite_db, components=(),
                     start_workers=False)
    app.router.add_get("/whoami", whoami)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/whoami", headers=headers)
        assert await resp.json() == {"remote": remote, "secure": secure}
