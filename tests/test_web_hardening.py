"""What a stranger can do over HTTP beyond the moderation guard: the security headers on
every response (redirects, 404s and errors too; HSTS over https), and the chat's
WebSocket against deep JSON and connection floods."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from tests.test_chat_web import open_chat, origin, say

Client = TestClient[Any, Any]


@pytest_asyncio.fixture
async def https_app(sqlite_db: Database, settings: Settings) -> AsyncIterator[Client]:
    app = create_app(settings.replace(base_url="https://landkort.example"), sqlite_db,
                     start_workers=False)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug of ours")

    app.router.add_get("/test-boom", boom)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.asyncio
async def test_every_response_carries_the_security_headers(https_app: Client) -> None:
    cases = {"/": 200, "/moderation": 303, "/kort/": 404, "/no/such/page": 404,
             "/unsubscribe/not-a-token": 404, "/test-boom": 500}
    for path, status in cases.items():
        resp = await https_app.get(path, allow_redirects=False)
        assert resp.status == status, (path, resp.status)
        h = resp.headers
        assert "frame-ancestors 'none'" in h.get("Content-Security-Policy", ""), path
        assert h.get("X-Content-Type-Options") == "nosniff", path
        assert h.get("Referrer-Policy"), path
        assert h.get("Strict-Transport-Security", "").startswith("max-age="), path


@pytest.mark.asyncio
async def test_no_hsts_over_plain_http(sqlite_db: Database, settings: Settings) -> None:
    app = create_app(settings, sqlite_db, start_workers=False)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/")
        assert "Strict-Transport-Security" not in resp.headers
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest_asyncio.fixture
async def chat(db: Database, settings: Settings) -> AsyncIterator[Client]:
    app = create_app(settings.replace(chat_sockets_per_ip=3, chat_sockets_total=5), db,
                     components=("intake.chat.web",), start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.asyncio
async def test_deeply_nested_json_is_a_bad_message_not_a_crash(chat: Client) -> None:
    ws, _ = await open_chat(chat)
    await ws.send_str("[" * 30_000 + "]" * 30_000)
    got = await ws.receive_json()
    assert got == {"type": "error", "code": "bad_message"}
    assert (await say(ws, "hej"))["type"] in ("bot", "error")  # the socket still works
    assert not ws.closed
    await ws.close()


@pytest.mark.asyncio
async def test_open_websockets_are_limited_per_client(chat: Client) -> None:
    await chat.get("/chat")
    sockets = [await chat.ws_connect("/chat/ws", headers={"Origin": origin(chat)})
               for _ in range(3)]
    for ws in sockets:
        assert (await ws.receive_json())["type"] == "history"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await chat.ws_connect("/chat/ws", headers={"Origin": origin(chat)})
    assert refused.value.status == 429
    await sockets[0].close()
    # A closed one frees its place.
    for _ in range(50):
        try:
            again = await chat.ws_connect("/chat/ws", headers={"Origin": origin(chat)})
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.01)  # the server's handler is still finishing
    else:
        pytest.fail("a closed WebSocket did not free its place")
    assert (await again.receive_json())["type"] == "history"
    for ws in [*sockets[1:], again]:
        await ws.close()


@pytest.mark.parametrize("address,key", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same client, same key
    ("::ffff:203.0.113.7", "203.0.113.7"), (None, "?"), ("not an ip", "not an ip"),
])
def test_an_ipv6_client_is_counted_by_its_64(address: str | None, key: str) -> None:
    from bot.core.clients import client_key

    assert client_key(address) == key
