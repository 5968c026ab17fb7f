"""The link checker (#19) against a local HTTP server only (nothing here reaches the
network): alive, 404, a timeout, a redirect chain and a redirect loop, a slow host that
does not hold up the others, many links to one host asked one at a time with a pause,
private addresses refused by default; and the dead link flagged after several checks in a
row, shown to moderators and asked for in the next reminder."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.db import Database, dbnow
from bot.links.checker import LinkTarget, check_links
from bot.links.store import dead_links, due_links, record_results
from tests.conftest import MakeInitiative


@dataclass
class Site:
    """A local web server whose pages behave as the test needs; it notes when each
    request began and ended, per host name it was asked under."""

    url: str
    port: int
    visits: list[tuple[str, str, float, float]] = field(default_factory=list)
    open_now: dict[str, int] = field(default_factory=dict)
    most_at_once: dict[str, int] = field(default_factory=dict)


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    state: dict[str, Site] = {}

    async def page(request: web.Request) -> web.StreamResponse:
        s = state["site"]
        host = request.host.split(":")[0]
        s.open_now[host] = s.open_now.get(host, 0) + 1
        s.most_at_once[host] = max(s.most_at_once.get(host, 0), s.open_now[host])
        began = time.monotonic()
        try:
            name = request.match_info["name"]
            if name == "slow":
                await asyncio.sleep(0.3)
            if name == "hang":
                await asyncio.sleep(30)
            if name == "gone":
                raise web.HTTPNotFound()
            if name == "moved":
                raise web.HTTPMovedPermanently("/p/hop")
            if name == "hop":
                raise web.HTTPFound(f"{s.url}/p/alive")
            if name == "loop-a":
                raise web.HTTPFound("/p/loop-b")
            if name == "loop-b":
                raise web.HTTPFound("/p/loop-a")
            return web.Response(text="ok")
        finally:
            s.open_now[host] -= 1
            s.visits.append((host, request.path, began, time.monotonic()))

    app = web.Application()
    app.router.add_get("/p/{name}", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    assert server.port is not None
    state["site"] = Site(f"http://127.0.0.1:{server.port}", server.port)
    try:
        yield state["site"]
    finally:
        await server.close()


def targets(*urls: str) -> list[LinkTarget]:
    return [LinkTarget(i + 1, "website", u) for i, u in enumerate(urls)]


@pytest.mark.asyncio
async def test_each_kind_of_answer(site: Site) -> None:
    u = site.url + "/p/"
    results = await check_links(targets(u + "alive", u + "gone", u + "hang", u + "moved",
                                        u + "loop-a", "ftp://example.dk/x", "not a url"),
                                timeout=0.5, per_host_delay=0, allow_private=True)
    alive, gone, hang, moved, loop, ftp, bad = results
    assert (alive.outcome, alive.status) == ("ok", 200)
    assert (gone.outcome, gone.status) == ("broken", 404)
    assert hang.outcome == "error" and "0.5" in (hang.error or "")
    assert moved.ok and moved.redirects == [u + "hop", u + "alive"]
    assert moved.final_url == u + "alive"
    assert loop.outcome == "error" and loop.error == "redirect loop"
    assert loop.redirects == [u + "loop-b", u + "loop-a"]
    assert ftp.outcome == bad.outcome == "error"


@pytest.mark.asyncio
async def test_a_slow_host_holds_up_no_other_and_one_host_is_asked_one_at_a_time(
        site: Site) -> None:
    # The same server under two names: "localhost" is slow and has many links; each
    # of its links waits its turn with a pause between, while 127.0.0.1 is answered
    # at once.
    slow = [f"http://localhost:{site.port}/p/slow?n={i}" for i in range(4)]
    quick = [f"{site.url}/p/alive?n={i}" for i in range(3)]
    results = await check_links(targets(*slow, *quick), concurrency=4, per_host_delay=0.2,
                                allow_private=True)
    assert all(r.ok for r in results)
    assert site.most_at_once["localhost"] == 1
    asked = sorted((began, ended) for host, _, began, ended in site.visits
                   if host == "localhost")
    gaps = [b2 - e1 for (_, e1), (b2, _) in zip(asked, asked[1:], strict=False)]
    assert len(asked) == 4 and min(gaps) >= 0.15, gaps  # the pause between two asks
    quick_done = max(e for host, _, _, e in site.visits if host == "127.0.0.1")
    slow_done = max(e for _, e in asked)
    assert quick_done < slow_done, "the quick host did not wait for the slow one"


@pytest.mark.asyncio
async def test_a_batch_deadline_leaves_the_rest_due_not_failed(site: Site) -> None:
    # Five links on one host with a pause of 0.6 s between them: a 1 s batch asks about
    # two; the others are left out (the store keeps them due), not reported as failing.
    urls = [f"{site.url}/p/alive?n={i}" for i in range(5)]
    results = await check_links(targets(*urls), per_host_delay=0.6, deadline=1.0,
                                allow_private=True)
    assert 1 <= len(results) < 5 and all(r.ok for r in results)
    assert len(site.visits) >= len(results)


@pytest.mark.asyncio
async def test_private_addresses_are_refused_by_default(site: Site) -> None:
    # Also when written so that Python's parser and aiohttp's read them differently
    # (full-width and circled digits are 127.0.0.1 to yarl), and by name (the resolver).
    port = site.port
    results = await check_links(targets(
        site.url + "/p/alive", f"http://１２７.０.０.１:{port}/p/alive",
        f"http://①②⑦.0.0.1:{port}/p/alive", f"http://localhost:{port}/p/alive",
        f"http://[::ffff:127.0.0.1]:{port}/p/alive"), per_host_delay=0)
    assert [r.outcome for r in results] == ["error"] * 5
    assert all("not a public address" in (r.error or "") or "port" in (r.error or "")
               for r in results), [r.error for r in results]
    assert site.visits == []


@pytest.mark.parametrize(("url", "refused"), [
    ("https://example.dk/side", None),
    ("http://93.184.216.34/", None),
    ("http://93.184.216.34:8080/", "port 8080 is not a web port"),
    ("http://10.0.0.7/", "10.0.0.7 is not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    ("http://[::127.0.0.1]/", "::7f00:1 is not a public address"),
    ("http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1 is not a public address"),
    ("http://[2002:7f00:1::]/", "2002:7f00:1:: is not a public address"),
    ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1 is not a public address"),
    ("ftp://example.dk/fil", "not an http(s) address"),
    ("javascript:alert(1)", "not an http(s) address"),
])
def test_what_the_checker_refuses_to_ask(url: str, refused: str | None) -> None:
    from bot.links.checker import refusal

    assert refusal(url, allow_private=False) == refused


@pytest.mark.asyncio
async def test_a_link_dead_three_times_in_a_row_is_flagged_and_asked_for(
        db: Database, make_initiative: MakeInitiative, site: Site) -> None:
    entry = await make_initiative(website=site.url + "/p/gone",
                                  evaluation_url=site.url + "/p/alive")
    now = dbnow()
    for round_ in range(3):
        due = await due_links(db, every=timedelta(days=30), limit=100,
                              now=now + timedelta(days=31 * round_))
        assert {t.field for t in due} == {"website", "evaluation_url"}
        results = await check_links(due, per_host_delay=0, allow_private=True)
        await record_results(db, results, now=now + timedelta(days=31 * round_))
        flagged = await dead_links(db, failures_to_flag=3)
        assert bool(flagged) is (round_ == 2)
    [dead] = flagged[entry.id]
    assert (dead.field, dead.status, dead.failures) == ("website", 404, 3)
    # Nothing is due again until the interval has passed.
    assert await due_links(db, every=timedelta(days=30), limit=100,
                           now=now + timedelta(days=63)) == []
    # A new address (the contact's answer) is a new link: no longer dead, due at once.
    from bot.registry.models import Initiative
    from bot.registry.repository import apply_changes

    async with db.write() as session:
        row = await session.get(Initiative, entry.id)
        assert row is not None
        await apply_changes(session, row, {"website": site.url + "/p/alive"}, actor="t",
                            channel="email")
    assert await dead_links(db, failures_to_flag=3) == {}
    due = await due_links(db, every=timedelta(days=30), limit=100,
                          now=now + timedelta(days=63))
    assert [(t.field, t.url) for t in due] == [("website", site.url + "/p/alive")]


@pytest.mark.asyncio
async def test_the_next_reminder_asks_for_the_new_address(
        db: Database, settings: Any, make_initiative: MakeInitiative) -> None:
    from bot.links.checker import LinkResult
    from tests.test_campaign_digest import plain_text
    from tests.test_campaign_scheduler import open_window, outbox_rows

    entry = await make_initiative(website="https://example.dk/gammel-side")
    target = LinkTarget(entry.id, "website", "https://example.dk/gammel-side")
    for _ in range(3):  # three monthly checks, all 404
        await record_results(db, [LinkResult(target, "broken", 404)])
    from bot.campaigns.reminders import run_tick

    await run_tick(db, open_window(settings), dbnow() + timedelta(minutes=1))
    (row,) = await outbox_rows(db)
    text, html = plain_text(row.raw), plain_text(row.raw, "html")
    assert "Disse links virker ikke længere" in text
    assert "Hjemmeside: https://example.dk/gammel-side (svar: 404)" in text
    assert "https://example.dk/gammel-side (svar: 404)" in html


@pytest.mark.asyncio
async def test_moderators_see_dead_links_on_the_case_and_the_completeness_page(
        db: Database, settings: Any, make_initiative: MakeInitiative,
        make_submission: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.links.checker import LinkResult
    from tests.moderation_support import login, moderation_client, use_fast_hashes

    use_fast_hashes(monkeypatch)
    entry = await make_initiative(evaluation_url="https://example.dk/rapport.pdf")
    target = LinkTarget(entry.id, "evaluation_url", "https://example.dk/rapport.pdf")
    for _ in range(3):
        await record_results(db, [LinkResult(target, "error", None,
                                             error="no answer within 15 s")])
    sub = await make_submission(initiative=entry, proposed={"status": "afsluttet"})
    async with moderation_client(db, settings, ("anna", "moderator")) as client:
        await login(client)
        page = await (await client.get(f"/moderation/item/{sub.id}")).text()
        assert "Døde links" in page and "https://example.dk/rapport.pdf" in page
        assert "no answer within 15 s" in page
        page = await (await client.get("/moderation/completeness")).text()
        assert "Opslag med døde links" in page and "https://example.dk/rapport.pdf" in page
