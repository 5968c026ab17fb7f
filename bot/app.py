"""The aiohttp application: routes from every component, workers under its lifecycle.

Each component module has ``setup(app)``, which adds its routes and appends its workers
to ``app[WORKERS]``. Workers start after the app starts and stop (gracefully: the
current item finishes, nothing new is claimed) before the database is closed.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import jinja2
from aiohttp import web

import bot.schema  # noqa: F401  (every table: Database checks the schema is whole)
from bot import observability
from bot.core.appkeys import DB, EXTRA, PAGES, SETTINGS, WORKERS
from bot.core.db import Database
from bot.core.i18n import format_moment
from bot.core.pages import PageError, render
from bot.core.settings import Settings
from bot.mail.templates import TEMPLATES_DIR
from bot.observability import request_metrics

log = logging.getLogger(__name__)

COMPONENTS: tuple[str, ...] = (
    "bot.public.web",         # catalogue, initiative pages, statistics, map, API
    "moderation.web.routes",  # login, queue, items, decisions, audit, contacts
    "intake.chat.web",        # /chat
    "intake.service",         # IMAP fetcher, LMTP listener, processor, retention
    "bot.mail_service",       # sender, campaign scheduler, digest, unsubscribe, consent
    "bot.links.service",      # the link checker (off unless link_check_enabled)
    "bot.demo.sandbox",       # the demo's mail sandbox (off unless sandbox_enabled)
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_environment(timezone: str = "Europe/Copenhagen") -> jinja2.Environment:
    """Jinja2 for pages: autoescaped, so text from mail or chat is always escaped.
    ``value|moment`` shows a stored (UTC) time in ``timezone``, with the zone named."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "pages")),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    env.filters["moment"] = lambda value: format_moment(value, timezone)
    return env


@web.middleware
async def forwarded_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Behind a reverse proxy listed in ``trusted_proxies``, take the client's address and
    scheme from X-Forwarded-For / X-Forwarded-Proto, so login throttling, chat limits and
    Secure cookies see the real client. Headers from anyone else are ignored: a client
    could write them to dodge a limit or lock someone else out."""
    trusted = request.app[SETTINGS].trusted_proxy_list
    if trusted and request.remote in trusted:
        hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", [])
                for hop in value.split(",") if hop.strip()]
        client = request.remote
        # The right-most address that is not one of our proxies is the client: anything
        # left of it was written by the client itself and proves nothing.
        for hop in reversed(hops):
            client = hop
            if hop not in trusted:
                break
        changes: dict[str, str] = {"remote": client}
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        request = request.clone(**changes)  # type: ignore[arg-type]
    return await handler(request)


CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
       "form-action 'self'")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set on every response as it is prepared (``on_response_prepare``): pages, and also
    redirects, 404s and error pages, which a middleware only sees when nothing raises.
    HSTS (RFC 6797) only when the service is published over https."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.app[SETTINGS].base_url.startswith("https://"):
        # Not includeSubDomains: the base URL may be an organisation's own domain, whose
        # other hosts are not ours to force onto HTTPS.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


# Paths whose errors stay plain (programs read them, or nothing around them is a page).
_PLAIN_ERRORS = ("/api", "/healthz", "/metrics", "/static", "/chat/ws")


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 404 (an address that matches no route) and an unexpected error get a page with
    the site around it, in the visitor's language, with a search box — not aiohttp's
    bare English text. Errors a handler raised with its own message keep it."""
    try:
        return await handler(request)
    except PageError as exc:
        return render(request, "error.html", status=exc.status, code=exc.status,
                      message=exc.key)
    except web.HTTPNotFound as exc:
        if request.path.startswith(_PLAIN_ERRORS) or exc.text != "404: Not Found":
            raise
        return render(request, "error.html", status=404, code=404)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith(_PLAIN_ERRORS):
            raise
        return render(request, "error.html", status=500, code=500)


def create_app(settings: Settings, db: Database, *,
               components: Sequence[str] = COMPONENTS, start_workers: bool = True,
               middlewares: Sequence[object] = ()) -> web.Application:
    """Build the web application for ``settings`` on ``db``."""
    app = web.Application(middlewares=[request_metrics, forwarded_headers, error_pages,
                                       *middlewares],  # type: ignore[list-item]
                          client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[DB] = db
    app[WORKERS] = []
    app[PAGES] = page_environment(settings.timezone)
    app[EXTRA] = {}
    app.on_response_prepare.append(security_headers)
    observability.setup(app)  # /healthz, /metrics
    app.router.add_static("/static", TEMPLATES_DIR / "static", name="static")
    for name in components:
        importlib.import_module(name).setup(app)
    if start_workers:
        app.cleanup_ctx.append(_run_workers)
    return app


async def _run_workers(app: web.Application) -> AsyncIterator[None]:
    started = []
    try:
        for worker in app[WORKERS]:
            await worker.start()
            started.append(worker)
            log.info("started %s", worker.name)
        yield
    finally:
        for worker in reversed(started):
            await worker.stop()
            log.info("stopped %s", worker.name)
