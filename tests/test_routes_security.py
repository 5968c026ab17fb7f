"""Every route of the FULL app (all components) is either explicitly public or closed to
anonymous users, and every non-public unsafe route refuses requests without a CSRF token.

A new route that is neither public (PUBLIC below) nor behind the moderation guard fails
this test: add it to the guard's prefixes, or — after thinking about it — to PUBLIC.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.core.db import Database
from bot.core.settings import Settings
from tests.moderation_support import add_user, login, use_fast_hashes

Client = TestClient[Any, Any]

# Public on purpose. Tokens in /unsubscribe, /samtykke, /bekraeft, /ret and /chat/verify
# are the credential there.
PUBLIC = [re.compile(p) for p in (
    r"^/$", r"^/initiativ/.+", r"^/statistik$", r"^/kort$", r"^/api(/.*)?$",
    r"^/export\.csv$", r"^/chat(/.*)?$", r"^/unsubscribe/.+", r"^/samtykke/.+",
    r"^/bekraeft/.+", r"^/ret/.+", r"^/indmeld$",
    r"^/(om|tilgaengelighed|privatliv|licens)$", r"^/feed\.atom$",
    r"^/rapport(/.*)?$",
    r"^/sandbox(/.*)?$",
    # /metrics: no login, but only metrics_allow addresses or the metrics_token
    # (tests/test_observability.py); the test client's 127.0.0.1 is allowed by default.
    r"^/healthz$", r"^/metrics$", r"^/static(/.*)?$", r"^/login$", r"^/robots\.txt$",
    r"^/favicon\.ico$",
)]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def is_public(path: str) -> bool:
    return any(p.match(path) for p in PUBLIC)


def concrete(path: str) -> str:
    """/moderation/item/{id:\\d+} → /moderation/item/1"""
    return re.sub(r"\{[^}]+\}", "1", path)


def app_routes(app: web.Application) -> list[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if path and route.method != "HEAD":
            out.add((route.method, str(path)))
    return sorted(out)


@pytest_asyncio.fixture
async def full_app(db: Database, settings: Settings,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    use_fast_hashes(monkeypatch)
    await add_user(db, "anna")
    app = create_app(settings.replace(sandbox_enabled=True), db, start_workers=False)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.asyncio
async def test_every_private_route_needs_login_and_csrf(full_app: Client) -> None:
    routes = app_routes(full_app.app)
    private = [(m, p) for m, p in routes if not is_public(p)]
    assert len(private) >= 15, private  # the moderation UI is there
    assert all(not is_public(p) for _, p in routes if p.startswith("/moderation"))
    assert ("POST", "/logout") in private

    for method, path in private:
        resp = await full_app.request(method, concrete(path), allow_redirects=False)
        if method in UNSAFE:
            assert resp.status in (401, 403), (method, path, resp.status)
        else:
            assert resp.status in (302, 303, 401), (method, path, resp.status)
            if resp.status != 401:
                assert resp.headers["Location"].startswith("/login"), (method, path)

    await login(full_app, "anna")
    for method, path in private:
        if method not in UNSAFE:
            continue
        for data in ({}, {"csrf_token": "forged"}):
            resp = await full_app.request(method, concrete(path), data=data,
                                          allow_redirects=False)
            assert resp.status == 403, (method, path, resp.status)
    # The session still works: the refusals changed nothing.
    assert (await full_app.get("/moderation")).status == 200


# Routes only administrators may use: users, the mail pages, the vocabularies (a
# moderator may still map a proposed word from a case: /moderation/vocabularies/map).
# Every other private route is for moderators too.
ADMIN_ONLY = {
    ("GET", "/moderation/users"), ("POST", "/moderation/users"),
    ("GET", "/moderation/mail"), ("GET", "/moderation/mail/{id}"),
    ("POST", "/moderation/mail/{id}/retry"), ("POST", "/moderation/mail/{id}/discard"),
    ("POST", "/moderation/mail/test"), ("GET", "/moderation/mail/received"),
    ("GET", "/moderation/mail/addresses"), ("POST", "/moderation/mail/addresses/reset"),
    ("GET", "/moderation/mail/campaigns"),
    ("GET", "/moderation/vocabularies"), ("POST", "/moderation/vocabularies/add"),
    ("POST", "/moderation/vocabularies/rename"), ("POST", "/moderation/vocabularies/word"),
    ("POST", "/moderation/vocabularies/merge"),
    ("GET", "/moderation/reports"), ("POST", "/moderation/reports/freeze"),
    ("GET", "/moderation/outreach"), ("POST", "/moderation/outreach/import"),
    ("POST", "/moderation/outreach/new"), ("GET", "/moderation/outreach/{campaign_id}"),
    ("POST", "/moderation/outreach/{campaign_id}/start"),
    ("POST", "/moderation/outreach/{campaign_id}/stop"),
}


@pytest.mark.asyncio
async def test_every_private_route_with_each_role(full_app: Client, db: Database) -> None:
    """A moderator is refused exactly the administrators' routes (403, with a valid CSRF
    token); an administrator is refused none of them."""
    private = [(m, p) for m, p in app_routes(full_app.app) if not is_public(p)]
    assert ADMIN_ONLY <= set(private)
    await add_user(db, "ada", role="admin")
    for name in ("anna", "ada"):
        full_app.session.cookie_jar.clear()
        csrf = await login(full_app, name)
        for method, path in private:
            if path == "/logout":
                continue
            data = {"csrf_token": csrf} if method in UNSAFE else None
            resp = await full_app.request(method, concrete(path), data=data,
                                          allow_redirects=False)
            refused = resp.status == 403
            expected = name == "anna" and (method, path) in ADMIN_ONLY
            assert refused == expected, (name, method, path, resp.status)


@pytest.mark.asyncio
async def test_moderation_pages_carry_the_security_headers(full_app: Client) -> None:
    await login(full_app, "anna")
    for path in ("/moderation", "/moderation/audit", "/moderation/contacts", "/login"):
        resp = await full_app.get(path)
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    resp = await full_app.get("/moderation")
    assert resp.headers["Cache-Control"] == "no-store"
