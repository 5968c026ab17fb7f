"""Helpers shared by the moderation web tests: users, logging in, reading CSRF tokens."""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient

from bot.core.db import Database
from moderation.accounts import create_user

PASSWORD = "correct horse battery"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The first CSRF token in a page."""
    found = _CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def add_user(db: Database, name: str = "anna", role: str = "moderator") -> None:
    await create_user(db, name, PASSWORD, role=role, actor="test")


async def login(client: TestClient[Any, Any], name: str = "anna",
                password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    resp = await client.get("/login")
    assert resp.status == 200
    token = csrf_of(await resp.text())
    resp = await client.post("/login", data={"csrf_token": token, "username": name,
                                             "password": password}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    resp = await client.get("/moderation")
    assert resp.status == 200
    return csrf_of(await resp.text())


def use_fast_hashes(monkeypatch: Any) -> None:
    """Cheap argon2 parameters for tests that are not about hashing (much faster)."""
    from argon2 import PasswordHasher

    from moderation import accounts

    monkeypatch.setattr(accounts, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def take_item(client: TestClient[Any, Any], item_id: int) -> str:
    """Open an item and press "Tag sagen" (claiming is an explicit POST); returns the
    item page's HTML after the claim."""
    html = await (await client.get(f"/moderation/item/{item_id}")).text()
    resp = await client.post(f"/moderation/item/{item_id}/claim",
                             data={"csrf_token": csrf_of(html)})
    assert resp.status == 200 and str(resp.url).endswith(f"/moderation/item/{item_id}")
    return await resp.text()


@asynccontextmanager
async def moderation_client(db: Database, settings: Any, *users: tuple[str, str]
                            ) -> AsyncIterator[TestClient[Any, Any]]:
    """The moderation app (no workers) under a test client, with ``users`` as
    (name, role) added first."""
    from aiohttp.test_utils import TestServer

    from bot.app import create_app

    for name, role in users:
        await add_user(db, name, role=role)
    app = create_app(settings, db, components=("moderation.web.routes",), start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client
