"""The contact's own consent to publication: ``/samtykke/{token}``.

The personal link of a reminder or a receipt (the same credential the update chat takes:
a 192-bit token, stored hashed, bound to one contact) opens a page that says plainly what
is published — name, e-mail and phone on the public landkort, in its API and its CSV —
and two buttons: yes or no. Only the POST records the answer (link scanners fetch every
URL in mail); it carries an HMAC of the token, so only our own page can send it.
:func:`bot.mail.contacts.record_consent` records it.
"""
from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from sqlalchemy import select

from bot.core import i18n
from bot.core.appkeys import DB, SETTINGS
from bot.core.pages import PageError, personal_page, render
from bot.core.settings import Settings
from bot.mail.contacts import record_consent
from bot.mail.tokens import token_contact
from bot.registry.models import Initiative

# Tokens that stand for the contact: a reminder (sent to the contact's address) and a
# receipt that names the contact (the contact wrote the reply).
PURPOSES = frozenset({"reminder", "receipt"})




def form_mac(settings: Settings, token: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"consent|{token}".encode(),
                    hashlib.sha256).hexdigest()


def _page(request: web.Request, *, status: int = 200, **ctx: object) -> web.StreamResponse:
    return personal_page(render(request, "consent.html", status=status, **ctx))


async def consent_page(request: web.Request) -> web.StreamResponse:
    """GET: what would be published (the contact's own details and entries), the current
    answer, two buttons. Changes nothing. After an answer (``?saved=1``) it thanks."""
    token = request.match_info["token"]
    async with request.app[DB].read() as session:
        contact = await token_contact(session, token, PURPOSES)
        titles = list((await session.scalars(select(Initiative.title).where(
            Initiative.contact_id == contact.id, Initiative.merged_into_id.is_(None))
            .order_by(Initiative.title))).all()) if contact is not None else []
    if contact is None:
        return _page(request, status=404, state="invalid")
    return _page(request, state="saved" if request.query.get("saved") == "1" else "ask",
                 contact=contact, titles=titles, token=token,
                 lang_query=_lang_query(request), current=contact.publish_consent,
                 mac=form_mac(request.app[SETTINGS], token))


def _lang_query(request: web.Request) -> str:
    """Keep an explicit language across the form post (the page sets no cookie)."""
    lang = request.query.get("lang")
    return f"lang={lang}" if lang in i18n.languages() else ""


async def consent_post(request: web.Request) -> web.StreamResponse:
    """POST: record yes or no for the token's contact, then show the answer (303 to the
    GET, so a reload does not post again)."""
    token = request.match_info["token"]
    form = await request.post()
    settings = request.app[SETTINGS]
    if not hmac.compare_digest(str(form.get("mac") or ""), form_mac(settings, token)):
        raise PageError(403, "err.open_link")
    answer = form.get("answer")
    if answer not in ("yes", "no"):
        raise PageError(400, "err.answer_yes_no")
    async with request.app[DB].write() as session:
        contact = await token_contact(session, token, PURPOSES)
        if contact is not None:
            await record_consent(session, contact.id, answer == "yes", source="link")
    if contact is None:
        return _page(request, status=404, state="invalid")
    query = "&".join(q for q in ("saved=1", _lang_query(request)) if q)
    raise web.HTTPSeeOther(f"/samtykke/{token}?{query}")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/samtykke/{token}", consent_page, name="consent")
    app.router.add_post("/samtykke/{token}", consent_post, name="consent_post")
