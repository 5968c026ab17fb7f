"""Unsubscribing: the one-click endpoint (RFC 8058) and opting a contact out.

``List-Unsubscribe: <mailto:…>, <https://…/unsubscribe/TOKEN>`` with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058 §3.1) lets a mail client
unsubscribe with one HTTPS POST whose body is ``List-Unsubscribe=One-Click``.

* ``POST /unsubscribe/{token}`` opts the token's contact out. No login and no CSRF
  token: the unguessable token (192 bits, stored hashed) is the credential, and it can
  only ever opt out the contact it was issued for (RFC 8058 §4: the URI must identify
  the recipient on its own). Repeating it is harmless.
* ``GET /unsubscribe/{token}`` never changes anything — link scanners and previews
  fetch URLs in mail — it shows a page with a button that makes the same POST.

:func:`bot.mail.contacts.opt_out_contact` is the one place that opts a contact out; intake
calls it for the mailto variant ("afmeld TOKEN").
"""
from __future__ import annotations

from aiohttp import web

from bot.core.appkeys import DB
from bot.core.pages import personal_page, render
from bot.mail.contacts import opt_out_contact
from bot.mail.tokens import token_contact

PURPOSE = "unsubscribe"
ONE_CLICK = "One-Click"




async def unsubscribe_page(request: web.Request) -> web.StreamResponse:
    """GET: show what the button would do. Never unsubscribes (link scanners)."""
    token = request.match_info["token"]
    async with request.app[DB].read() as session:
        contact = await token_contact(session, token, (PURPOSE,))
    if contact is None:
        return personal_page(render(request, "unsubscribe.html", status=404, state="invalid",
                                email="", token=""))
    state = "done" if contact.email_status == "opted_out" else "confirm"
    return personal_page(render(request, "unsubscribe.html", state=state,
                            email=contact.email or "", token=token))


async def unsubscribe_post(request: web.Request) -> web.StreamResponse:
    """POST (RFC 8058 one-click, or the page's button): opt the token's contact out."""
    token = request.match_info["token"]
    form = await request.post()
    if form.get("List-Unsubscribe") != ONE_CLICK:
        raise web.HTTPBadRequest(text="Expected List-Unsubscribe=One-Click (RFC 8058).")
    async with request.app[DB].write() as session:
        contact = await token_contact(session, token, (PURPOSE,))
        if contact is not None:
            await opt_out_contact(session, contact.id)
            email = contact.email or ""
    if contact is None:
        return personal_page(render(request, "unsubscribe.html", status=404, state="invalid",
                                email="", token=""))
    return personal_page(render(request, "unsubscribe_done.html", email=email))


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/unsubscribe/{token}", unsubscribe_page, name="unsubscribe")
    app.router.add_post("/unsubscribe/{token}", unsubscribe_post, name="unsubscribe_post")
