"""The administrators' mail pages (like Discourse's /admin/email): outgoing mail with
retry and discard, received mail with how it was read, blocked addresses with a reset,
a test mail, and the campaign dashboard.

Every route here is for administrators only (:func:`require_admin`, 403 for a moderator);
the session and CSRF checks are the moderation guard's, as on every page under
``/moderation``. Every change is written to the audit log in the same transaction.
"""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from bot.core.appkeys import DB, SETTINGS
from bot.core.db import dbnow
from bot.core.pages import PageError
from bot.mail.contacts import reset_mail_status
from bot.mail.outbox import MailActionError, discard_mail, queue_test_mail, retry_mail
from moderation.audit import record_event
from moderation.web import mail_log
from moderation.web.security import require_admin
from moderation.web.views import actor_of, int_param, lang_of, page, redirect

routes = web.RouteTableDef()


def _query(**values: object) -> str:
    kept = {k: v for k, v in values.items() if v not in (None, "")}
    return f"?{urlencode(kept)}" if kept else ""


@routes.get("/moderation/mail", name="mail")
async def outgoing(request: web.Request) -> web.Response:
    require_admin(request)
    db = request.app[DB]
    state, q = request.query.get("state", ""), request.query.get("q", "")[:200]
    rows, older = await mail_log.outbox_page(db, state=state, search=q,
                                             before=int_param(request.query.get("before")))
    return page(request, "mail_outgoing.html", rows=rows, older=older, state=state, q=q,
                counts=await mail_log.outbox_counts(db), states=mail_log.OUTBOX_STATES,
                done=request.query.get("done"), more=_query(state=state, q=q, before=older),
                test_to=request.query.get("to", ""), test_error=False)


@routes.get("/moderation/mail/{id:\\d+}", name="mail_item")
async def outgoing_item(request: web.Request) -> web.Response:
    require_admin(request)
    mail = await mail_log.outbox_mail(request.app[DB], int(request.match_info["id"]))
    if mail is None:
        raise PageError(404, "err.no_outbox_mail")
    return page(request, "mail_item.html", mail=mail, done=request.query.get("done"))


async def _mail_action(request: web.Request, action: str) -> web.Response:
    require_admin(request)
    outbox_id = int(request.match_info["id"])
    actor = actor_of(request)
    try:
        async with request.app[DB].write() as session:
            if action == "retried":
                row = await retry_mail(session, outbox_id, now=dbnow())
            else:
                row = await discard_mail(session, outbox_id, reason=f"discarded by {actor}")
            await record_event(session, actor=actor, action=f"mail.{action}",
                               detail={"outbox_id": outbox_id, "to": row.to_addr})
    except MailActionError as exc:
        mail = await mail_log.outbox_mail(request.app[DB], outbox_id)
        if mail is None:
            raise PageError(404, "err.no_outbox_mail") from None
        return page(request, "mail_item.html", status=400, mail=mail, done=None,
                    error=str(exc))
    raise redirect(f"/moderation/mail/{outbox_id}", done=f"mail_{action}")


@routes.post("/moderation/mail/{id:\\d+}/retry")
async def retry(request: web.Request) -> web.Response:
    return await _mail_action(request, "retried")


@routes.post("/moderation/mail/{id:\\d+}/discard")
async def discard(request: web.Request) -> web.Response:
    return await _mail_action(request, "discarded")


@routes.post("/moderation/mail/test")
async def test_mail(request: web.Request) -> web.Response:
    """Queue a test mail to the address given (the administrator's own by default)."""
    require_admin(request)
    form = await request.post()
    to_addr = str(form.get("to") or "").strip()[:320]
    actor = actor_of(request)
    try:
        async with request.app[DB].write() as session:
            row = await queue_test_mail(session, request.app[SETTINGS], to_addr=to_addr,
                                        lang=lang_of(request), actor=actor)
            await record_event(session, actor=actor, action="mail.test_queued",
                               detail={"outbox_id": row.id, "to": row.to_addr})
    except MailActionError as exc:
        db = request.app[DB]
        rows, older = await mail_log.outbox_page(db)
        return page(request, "mail_outgoing.html", status=400, rows=rows, older=older,
                    state="", q="", counts=await mail_log.outbox_counts(db),
                    states=mail_log.OUTBOX_STATES, done=None, more=_query(before=older),
                    test_to=to_addr, error=str(exc), test_error=True)
    raise redirect(f"/moderation/mail/{row.id}", done="mail_test_queued")


@routes.get("/moderation/mail/received", name="mail_received")
async def received(request: web.Request) -> web.Response:
    require_admin(request)
    db = request.app[DB]
    state, kind = request.query.get("state", ""), request.query.get("kind", "")[:32]
    q = request.query.get("q", "")[:200]
    rows, older = await mail_log.inbound_page(db, state=state, kind=kind, search=q,
                                              before=int_param(request.query.get("before")))
    return page(request, "mail_received.html", rows=rows, older=older, state=state,
                kind=kind, q=q, counts=await mail_log.inbound_counts(db),
                kinds=await mail_log.inbound_kinds(db), states=mail_log.INBOUND_STATES,
                more=_query(state=state, kind=kind, q=q, before=older))


@routes.get("/moderation/mail/addresses", name="mail_addresses")
async def addresses(request: web.Request) -> web.Response:
    require_admin(request)
    return page(request, "mail_addresses.html",
                contacts=await mail_log.blocked_contacts(request.app[DB]),
                done=request.query.get("done"))


@routes.post("/moderation/mail/addresses/reset")
async def addresses_reset(request: web.Request) -> web.Response:
    """Set a bouncing or opted-out address back to ok (audited, with the reason)."""
    require_admin(request)
    form = await request.post()
    contact_id = int_param(form.get("contact_id"))
    reason = str(form.get("reason") or "").strip()[:500]
    if contact_id is None:
        raise PageError(400, "err.which_contact")
    if not reason:
        return page(request, "mail_addresses.html", status=400,
                    contacts=await mail_log.blocked_contacts(request.app[DB]), done=None,
                    error="err.reset_needs_reason")
    async with request.app[DB].write() as session:
        found = await reset_mail_status(session, contact_id)
        if found is None:
            raise PageError(404, "err.no_contact")
        contact, before = found
        await record_event(session, actor=actor_of(request), action="contact.mail_reset",
                           detail={"contact_id": contact_id, "to": contact.email or "",
                                   "status_before": before, "reason": reason})
    raise redirect("/moderation/mail/addresses", done="mail_reset")


@routes.get("/moderation/mail/campaigns", name="mail_campaigns")
async def campaigns(request: web.Request) -> web.Response:
    require_admin(request)
    lang = lang_of(request)
    return page(request, "mail_campaigns.html",
                board=await mail_log.campaign_dashboard(request.app[DB], lang),
                percent=lambda part, whole: mail_log.percent(part, whole, lang))


__all__ = ["routes"]
