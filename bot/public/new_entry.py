"""Registering a new initiative on one page: ``/indmeld``.

The same form as the contacts' update page (:mod:`bot.public.answer`: every field with
its control, read through the one field parser), empty. Before anything is sent, a
likely duplicate is shown ("Er det dette initiativ?"), as the chat does; sending makes
an *unverified* submission and mails the contact address a link that proves it (the
chat's verification, :func:`moderation.notices.enqueue_verification`), and only then
does it enter the moderators' queue. The chat stays for people who prefer a
conversation; this page links to it.

No token in the URL: the POST carries a double-submit CSRF value (a random cookie and
its HMAC in the form), and posts are rate-limited per client.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from bot.core import i18n
from bot.core.appkeys import DB, SETTINGS
from bot.core.clients import client_key
from bot.core.pages import PageError, personal_page, render, request_language
from bot.core.ratelimit import RateLimiter
from bot.core.settings import Settings
from bot.public.answer import form_fields, read_form
from bot.registry.duplicates import find_duplicates
from bot.registry.models import Initiative
from bot.registry.vocabulary import MUNICIPALITIES
from moderation.invitations import claim_for_registration, prefill_for
from moderation.notices import enqueue_verification
from moderation.submissions import create_submission

COOKIE = "landkort_form"
# Put to the person before sending (as the chat does).
DUPLICATE_SCORE = 80.0
POSTS = web.AppKey("new_entry_posts", RateLimiter)




def _csrf(settings: Settings, nonce: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"new-entry|{nonce}".encode(),
                    hashlib.sha256).hexdigest()


def _page(request: web.Request, *, status: int = 200, nonce: str | None = None,
          **ctx: Any) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    nonce = nonce or request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
    ctx.setdefault("errors", {})
    ctx.setdefault("duplicates", [])
    ctx.setdefault("state", "form")
    response = render(request, "new_entry.html", status=status, csrf=_csrf(settings, nonce),
                      municipalities=MUNICIPALITIES, **ctx)
    response.set_cookie(COOKIE, nonce, httponly=True, samesite="Strict", path="/indmeld",
                        secure=settings.base_url.startswith("https://"))
    response.headers["Cache-Control"] = "no-store"
    return response


async def new_entry_page(request: web.Request) -> web.StreamResponse:
    """GET: the empty form (or, after sending, "check your mail")."""
    lang = request_language(request, request.app[SETTINGS].language)
    if request.query.get("sent"):
        return _page(request, state="sent", lang=lang,
                     hours=request.app[SETTINGS].chat_verify_hours)
    # A personal link (a lead's invitation, an outreach mail): the form starts with what
    # the link knows (moderation.invitations).
    token = request.query.get("invitation") or request.query.get("lead", "")
    if token:
        async with request.app[DB].read() as session:
            known = await prefill_for(session, token)
        if known is not None:
            page = _page(request, lang=lang, lead_token=token,
                         fields=form_fields(known, lang, None, {}))
            personal_page(page)
            return page
    return _page(request, lang=lang, fields=form_fields({}, lang, None, {}))


async def new_entry_post(request: web.Request) -> web.StreamResponse:
    """POST: read every field; errors beside them; a likely duplicate put to the person;
    else an unverified submission and the verification mail, then 303."""
    settings = request.app[SETTINGS]
    lang = request_language(request, settings.language)
    form = await request.post()
    nonce = request.cookies.get(COOKIE) or ""
    if not nonce or not hmac.compare_digest(str(form.get("csrf") or ""),
                                            _csrf(settings, nonce)):
        return _page(request, status=403, lang=lang, expired=True,
                     fields=form_fields({}, lang, None, {}))
    if not request.app[POSTS].allow(client_key(request.remote)):
        raise PageError(429, "err.too_many")
    values, errors, typed = read_form(form, lang)
    if errors:
        return _page(request, status=400, lang=lang, errors=errors,
                     lead_token=str(form.get("lead") or "")[:100],
                     fields=form_fields({}, lang, typed, errors))
    proposed = {k: v for k, v in values.items() if v not in (None, "", [])}
    async with request.app[DB].read() as session:
        candidates = await find_duplicates(session, proposed)
        likely = [c for c in candidates if float(c.get("score") or 0) >= DUPLICATE_SCORE]
        slugs = dict((await session.execute(select(Initiative.id, Initiative.slug).where(
            Initiative.id.in_([c["initiative_id"] for c in likely])))).all()) if likely else {}
    if likely and form.get("not_duplicate") != "1":
        return _page(request, lang=lang, fields=form_fields({}, lang, typed, {}),
                     lead_token=str(form.get("lead") or "")[:100],
                     duplicates=[{**c, "slug": slugs.get(c["initiative_id"])}
                                 for c in likely])
    email = str(proposed.get("contact_email") or "")
    async with request.app[DB].write() as session:
        sub = await create_submission(
            session, kind="new", channel="web", proposed=proposed,
            flags=["likely_duplicate"] if likely else [], sender_email=email,
            sender_name=proposed.get("contact_name"), language=lang, state="unverified",
            duplicate_candidates=candidates,
            idempotency_key="form-new:" + hashlib.sha256(
                f"{email}|{sorted(proposed.items())!r}".encode()).hexdigest()[:40],
            actor=f"web:{email}")
        if sub is not None:
            await enqueue_verification(session, settings, sub, None)
            lead_token = str(form.get("lead") or "")
            if lead_token:
                await claim_for_registration(session, lead_token, sub.id)
    # No address in the URL (it would sit in logs and history): the page says where.
    chosen = request.query.get("lang")
    keep = {"lang": chosen} if chosen in i18n.languages() else {}
    raise web.HTTPSeeOther("/indmeld?" + urlencode({"sent": "1", **keep}))


def setup_routes(app: web.Application) -> None:
    """Add the one-page registration form."""
    app[POSTS] = RateLimiter(app[SETTINGS].chat_sessions_per_ip_per_hour, 3600.0)
    app.router.add_get("/indmeld", new_entry_page, name="new_entry")
    app.router.add_post("/indmeld", new_entry_post, name="new_entry_post")


__all__ = ["COOKIE", "new_entry_page", "new_entry_post", "setup_routes"]
