"""The moderator web UI: login, queue, items and decisions, audit log, contacts,
quarantined mail. Handlers are thin: they read the request, call the query functions
(:mod:`moderation.web.queue_view`, :mod:`moderation.web.item_view`, :mod:`moderation.web.lists`)
and the decisions (:mod:`moderation.decisions`, the same ones the CLI uses), and render.

Access control is one middleware (:func:`moderation.web.security.moderation_guard`): every
path under ``/moderation`` and ``/logout`` needs a session, and every unsafe request
there a valid CSRF token.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.core.appkeys import DB, SETTINGS
from bot.core.clients import client_key
from bot.core.i18n import format_moment, format_share, gettext, languages
from bot.core.pages import PageError, content_disposition
from bot.core.spreadsheet import csv_document
from bot.mail.contacts import record_consent
from bot.registry.fields import split_list
from bot.registry.vocabulary import REGIONS, label_of
from moderation import decisions, evaluation_reports
from moderation.accounts import AccountError, authenticate, create_user, set_disabled
from moderation.audit import record_event
from moderation.web import (
    lead_routes,
    lists,
    mail_routes,
    outreach_routes,
    report_routes,
    vocabulary_routes,
)
from moderation.web.history import event_sentence, event_text
from moderation.web.item_view import (
    CHOICE_FIELDS,
    TERM_FIELDS,
    attachment_of,
    edit_choices,
    edit_form_values,
    effective_record,
    load_item,
    parse_edits,
)
from moderation.web.queue_view import QueueFilters, fetch_queue, forget_counts, queue_counts
from moderation.web.security import (
    CSRF_FIELD,
    DEVICE_COOKIE,
    SESSION_COOKIE,
    clear_session_cookie,
    client_address,
    create_session,
    end_session,
    is_known_device,
    login_csrf_token,
    login_nonce,
    login_succeeded,
    moderation_guard,
    require_admin,
    set_device_cookie,
    set_login_cookie,
    set_session_cookie,
    take_login_attempt,
    throttle_keys,
    tokens_match,
)
from moderation.web.texts import reason_choices, reason_text
from moderation.web.views import actor_of, int_param, lang_of, page, redirect

routes = web.RouteTableDef()


def _safe_next(target: str | None) -> str:
    """Only local paths under /moderation after login (no open redirect)."""
    if target and target.startswith("/moderation") and "//" not in target \
            and "\\" not in target:
        return target
    return "/moderation"


def see_other(location: str) -> web.Response:
    """A 303 redirect (after a POST) that can carry cookies."""
    return web.Response(status=303, headers={"Location": location})


# --- login / logout --------------------------------------------------------------------------

def _login_page(request: web.Request, *, error: str | None = None,
                status: int = 200, username: str = "") -> web.Response:
    settings = request.app[SETTINGS]
    nonce, new = login_nonce(request)
    resp = page(request, "login.html", status=status, error=error, username=username,
                next=_safe_next(request.query.get("next")),
                login_token=login_csrf_token(settings, nonce))
    if new:
        set_login_cookie(resp, request, settings, nonce)
    return resp


@routes.get("/login", name="login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.Response:
    db, settings = request.app[DB], request.app[SETTINGS]
    form = await request.post()
    nonce = request.cookies.get("landkort_login") or ""
    if not nonce or not tokens_match(str(form.get(CSRF_FIELD) or ""),
                                     login_csrf_token(settings, nonce)):
        raise PageError(403, "err.form_expired")
    username = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")[:1000]
    keys = throttle_keys(username, client_key(client_address(request)))
    known = is_known_device(settings, request.cookies.get(DEVICE_COOKIE), username)
    reserved = await take_login_attempt(db, settings, keys, known_device=known)
    if reserved is None:
        return _login_page(request, error="login.throttled", status=429, username=username)
    user = await authenticate(db, username, password) if username and password else None
    if user is None:
        return _login_page(request, error="login.failed", status=401, username=username)
    await login_succeeded(db, keys[0], reserved)
    session_id, _ = await create_session(db, settings, user,
                                         client_addr=client_address(request),
                                         replaces=request.cookies.get(SESSION_COOKIE))
    resp = see_other(_safe_next(str(form.get("next") or "")))
    set_session_cookie(resp, request, settings, session_id)
    set_device_cookie(resp, request, settings, username)
    resp.del_cookie("landkort_login", path="/login")
    return resp


@routes.post("/logout", name="logout")
async def logout(request: web.Request) -> web.Response:
    await end_session(request.app[DB], request.cookies.get(SESSION_COOKIE))
    resp = see_other("/login")
    clear_session_cookie(resp)
    return resp


# --- the queue ---------------------------------------------------------------------------------

@routes.get("/moderation", name="queue")
async def queue(request: web.Request) -> web.Response:
    filters = QueueFilters.from_query(request.query)
    actor = actor_of(request)
    async with request.app[DB].read() as session:
        result = await fetch_queue(session, filters, actor=actor,
                                   cursor=request.query.get("after"))
    counts = await queue_counts(request.app[DB], actor=actor)
    return page(request, "queue.html", filters=filters, rows=result.rows,
                next_cursor=result.next_cursor, counts=counts,
                paged=bool(request.query.get("after")),
                done=request.query.get("done"), done_n=request.query.get("n"),
                problems=request.query.getall("problem", []), urlencode=urlencode,
                regions=[(t.key, label_of(REGIONS, t.key, lang_of(request))) for t in REGIONS])


@routes.post("/moderation/bulk-approve")
async def bulk_approve(request: web.Request) -> web.Response:
    form = await request.post()
    ids = [i for i in (int_param(v) for v in form.getall("ids", [])) if i is not None]
    done, problems = await decisions.bulk_approve_confirmations(
        request.app[DB], ids, actor=actor_of(request), settings=request.app[SETTINGS])
    forget_counts()
    q = [("done", "bulk"), ("n", str(len(done)))] + [("problem", p) for p in problems[:10]]
    raise web.HTTPSeeOther("/moderation?" + urlencode(q))


# --- one item ------------------------------------------------------------------------------------

async def _item_page(request: web.Request, sid: int, *, status: int = 200,
                     **extra: Any) -> web.Response:
    settings = request.app[SETTINGS]
    view = await load_item(request.app[DB], sid, lang=lang_of(request),
                           own_domain=settings.mail_domain,
                           link_failures=settings.link_check_failures)
    if view is None:
        raise PageError(404, "err.no_item")
    extra.setdefault("errors", {})
    extra.setdefault("form", {})
    extra.setdefault("conflict", None)
    extra.setdefault("chosen", {})
    dup_q = request.query.get("dup_q", "")[:200]
    return page(request, "item.html", status=status, v=view, me=actor_of(request),
                dup_q=dup_q, dup_found=await lists.find_entries(request.app[DB], dup_q),
                choices=edit_choices(lang_of(request)),
                reasons=reason_choices(lang_of(request)), done=request.query.get("done"), **extra)


@routes.get("/moderation/item/{id:\\d+}", name="item")
async def item(request: web.Request) -> web.Response:
    # Looking changes nothing (a GET may be a prefetch, a second tab, a link preview):
    # taking the item is the explicit POST below.
    return await _item_page(request, int(request.match_info["id"]))


@routes.get("/moderation/item/{id:\\d+}/attachment/{n:\\d+}", name="attachment")
async def attachment(request: web.Request) -> web.StreamResponse:
    """A file the sender attached, for a logged-in moderator: always a download
    (``Content-Disposition: attachment``, a neutral type, ``nosniff``, a sandboxing
    CSP), never rendered by the browser, whatever the sender claimed it is."""
    found = await attachment_of(request.app[DB], int(request.match_info["id"]),
                                int(request.match_info["n"]))
    if found is None:
        raise PageError(404, "err.no_attachment")
    name, data = found
    return web.Response(body=data, headers={
        "Content-Type": "application/octet-stream",
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
    })


@routes.post("/moderation/item/{id:\\d+}/attachment/{n:\\d+}/evaluation-report")
async def attach_evaluation_report(request: web.Request) -> web.Response:
    """Attach the case's n-th file to its entry as the evaluation report (a PDF only)."""
    sid = int(request.match_info["id"])
    found = await attachment_of(request.app[DB], sid, int(request.match_info["n"]))
    if found is None:
        raise PageError(404, "err.no_attachment")
    name, data = found
    try:
        await evaluation_reports.attach_from_case(request.app[DB], sid, filename=name,
                                                  data=data, actor=actor_of(request))
    except evaluation_reports.ReportError as exc:
        return await _item_page(request, sid, status=400, error=exc.key)
    raise redirect(f"/moderation/item/{sid}", done="report_attached")


@routes.post("/moderation/item/{id:\\d+}/evaluation-report/remove")
async def remove_evaluation_report(request: web.Request) -> web.Response:
    """Remove the entry's evaluation report."""
    sid = int(request.match_info["id"])
    try:
        await evaluation_reports.remove_from_entry(request.app[DB], sid,
                                                   actor=actor_of(request))
    except evaluation_reports.ReportError as exc:
        return await _item_page(request, sid, status=400, error=exc.key)
    raise redirect(f"/moderation/item/{sid}", done="report_removed")


@routes.post("/moderation/item/{id:\\d+}/claim")
async def claim(request: web.Request) -> web.Response:
    sid = int(request.match_info["id"])
    try:
        await decisions.claim(request.app[DB], sid, actor=actor_of(request),
                              timeout_minutes=request.app[SETTINGS].claim_timeout_minutes)
    except decisions.NotFound:
        raise PageError(404, "err.no_item") from None
    raise redirect(f"/moderation/item/{sid}")


async def _decide(request: web.Request, sid: int, call: Any, done: str) -> web.Response:
    """Run a decision; known failures are shown on the item page, never swallowed."""
    try:
        await call
    except decisions.Conflict as exc:
        return await _item_page(request, sid, status=409, conflict=exc)
    except decisions.AlreadyDecided as exc:
        return await _item_page(request, sid, status=409, error="d.already",
                                error_detail=str(exc))
    except decisions.DecisionError as exc:
        return await _item_page(request, sid, status=400, error=str(exc))
    forget_counts()
    raise redirect("/moderation", done=done)


@routes.post("/moderation/item/{id:\\d+}/approve")
async def approve(request: web.Request) -> web.Response:
    sid = int(request.match_info["id"])
    form = await request.post()
    force = form.get("force") == "1"
    edits: dict[str, Any] = {}
    if form.get("edit") == "1":
        effective = await effective_record(request.app[DB], sid)
        if effective is None:
            raise PageError(404, "err.no_item")
        raw = edit_form_values(form, lang_of(request))
        edits, errors = parse_edits(raw, effective, lang_of(request))
        if errors:
            chosen = {k: [str(v) for v in form.getall(k) if str(v).strip()]
                      for k in CHOICE_FIELDS if k in form}
            for k in TERM_FIELDS:  # the words typed beside the ticked terms, kept
                chosen.setdefault(k, []).extend(split_list(str(form.get(f"{k}_other") or "")))
            return await _item_page(request, sid, status=400, errors=errors, form=raw,
                                    chosen=chosen, error="d.errors")
    return await _decide(request, sid, decisions.approve(
        request.app[DB], sid, actor=actor_of(request), edits=edits, force=force,
        settings=request.app[SETTINGS]), "approved")


@routes.post("/moderation/item/{id:\\d+}/reject")
async def reject(request: web.Request) -> web.Response:
    sid = int(request.match_info["id"])
    form = await request.post()
    language = await lists.submission_language(request.app[DB], sid)
    preset = reason_text(str(form.get("preset") or ""), language)
    free = str(form.get("reason") or "").strip()
    reason = "\n\n".join(p for p in (preset, free) if p)
    return await _decide(request, sid, decisions.reject(
        request.app[DB], sid, actor=actor_of(request), reason=reason,
        settings=request.app[SETTINGS]), "rejected")


@routes.post("/moderation/item/{id:\\d+}/ask")
async def ask(request: web.Request) -> web.Response:
    sid = int(request.match_info["id"])
    form = await request.post()
    return await _decide(request, sid, decisions.ask_for_info(
        request.app[DB], sid, actor=actor_of(request), message=str(form.get("message") or ""),
        settings=request.app[SETTINGS]), "needs_info")


@routes.post("/moderation/item/{id:\\d+}/duplicate")
async def duplicate(request: web.Request) -> web.Response:
    sid = int(request.match_info["id"])
    form = await request.post()
    target = int_param(form.get("target"))
    if target is None:
        return await _item_page(request, sid, status=400, error="d.target")
    take = [str(f) for f in form.getall("take", [])]
    return await _decide(request, sid, decisions.mark_duplicate(
        request.app[DB], sid, actor=actor_of(request), target_id=target, take_fields=take),
        "duplicate")


@routes.post("/moderation/item/{id:\\d+}/release")
async def release(request: web.Request) -> web.Response:
    await decisions.release(request.app[DB], int(request.match_info["id"]),
                            actor=actor_of(request))
    raise redirect("/moderation", done="released")


# --- merging two entries --------------------------------------------------------------------------

@routes.get("/moderation/completeness", name="completeness")
async def completeness(request: web.Request) -> web.Response:
    """What the registry's entries lack, field by field, and the entries lacking most."""
    lang = lang_of(request)
    data = await lists.completeness(request.app[DB], lang,
                                    link_failures=request.app[SETTINGS].link_check_failures)
    return page(request, "completeness.html", data=data,
                share=format_share(data.complete / data.total, lang) if data.total else "")


@routes.get("/moderation/duplicates", name="duplicates")
async def duplicates(request: web.Request) -> web.Response:
    """Suspected duplicates, best first: compare side by side, merge or dismiss."""
    pairs = await lists.duplicate_worklist(request.app[DB])
    return page(request, "duplicates.html", pairs=pairs, done=request.query.get("done"))


@routes.post("/moderation/duplicates/dismiss")
async def duplicates_dismiss(request: web.Request) -> web.Response:
    form = await request.post()
    first, second = int_param(form.get("first")), int_param(form.get("second"))
    if first is None or second is None:
        raise PageError(400, "err.which_entry")
    try:
        await decisions.dismiss_duplicate(request.app[DB], first, second,
                                          actor=actor_of(request))
    except decisions.DecisionError:
        raise PageError(400, "err.which_entry") from None
    raise redirect("/moderation/duplicates", done="not_duplicate")


async def _merge_page(request: web.Request, source: int | None, target: int | None, *,
                      status: int = 200, error: str | None = None) -> web.Response:
    db, lang = request.app[DB], lang_of(request)
    pair = await lists.merge_pair(db, source, target, lang)
    source_q, target_q = (request.query.get(k, "")[:200] for k in ("source_q", "target_q"))
    return page(request, "merge.html", status=status, source=source, target=target,
                pair=pair, error=error, source_q=source_q, target_q=target_q,
                source_found=await lists.find_entries(db, source_q),
                target_found=await lists.find_entries(db, target_q),
                source_entry=await lists.published_entry(db, source),
                target_entry=await lists.published_entry(db, target),
                dismissed=bool(pair) and await lists.is_dismissed(db, source or 0, target or 0),
                urlencode=urlencode)


@routes.get("/moderation/merge", name="merge")
async def merge_form(request: web.Request) -> web.Response:
    return await _merge_page(request, int_param(request.query.get("source")),
                             int_param(request.query.get("target")))


@routes.post("/moderation/merge")
async def merge_submit(request: web.Request) -> web.Response:
    form = await request.post()
    source, target = int_param(form.get("source")), int_param(form.get("target"))
    if source is None or target is None:
        raise redirect("/moderation/merge")
    try:
        await decisions.merge_initiatives(request.app[DB], source, target,
                                          actor=actor_of(request),
                                          take_fields=[str(f) for f in form.getall("take", [])])
    except decisions.DecisionError as exc:
        return await _merge_page(request, source, target, status=400, error=str(exc))
    raise redirect("/moderation", done="merged")


# --- audit, contacts, quarantine, users ----------------------------------------------------------

@routes.get("/moderation/audit", name="audit")
async def audit(request: web.Request) -> web.Response:
    filters = lists.AuditFilters.from_query(request.query)
    zone = request.app[SETTINGS].timezone
    events, older = await lists.audit_events(request.app[DB], filters, zone=zone,
                                             before=int_param(request.query.get("before")))
    actions = await lists.audit_actions(request.app[DB])
    lang = lang_of(request)
    _ = gettext(lang)

    def action_label(action: str) -> str:
        # An action with a name in the catalogue reads as words; an unknown one as its code.
        named = _(f"audit.{action}")
        return action if named == f"audit.{action}" else named

    def describe(detail: Any) -> Any:
        return lists.describe_detail(detail, lang)
    return page(request, "audit.html", filters=filters, events=events, older=older,
                actions=actions, urlencode=urlencode, action_label=action_label,
                sentence=lambda event: event_sentence(event, lang, describe=describe))


@routes.get("/moderation/audit.csv", name="audit_csv")
async def audit_csv(request: web.Request) -> web.Response:
    """The filtered audit log as CSV: time (Danish time, zone named), who, the action's
    code and name, case, entry, and the event as a sentence."""
    filters = lists.AuditFilters.from_query(request.query)
    settings = request.app[SETTINGS]
    events = await lists.audit_export(request.app[DB], filters, zone=settings.timezone)
    lang = lang_of(request)
    _ = gettext(lang)

    def describe(detail: Any) -> Any:
        return lists.describe_detail(detail, lang)
    header = [_("a.when"), _("a.actor"), _("a.action"), _("q.item"), _("a.entry"),
              _("a.event")]
    rows = [[format_moment(e.at, settings.timezone), e.actor, e.action,
             _("ref.case", id=e.submission_id) if e.submission_id else "",
             str(e.initiative_id or ""), event_text(e, lang, describe)] for e in events]
    return web.Response(
        body=csv_document(header, rows).encode("utf-8-sig"),
        content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="landkort-log.csv"'})


@routes.get("/moderation/contacts", name="contacts")
async def contacts(request: web.Request) -> web.Response:
    data = await lists.contacts_overview(request.app[DB], request.query.get("q", ""))
    return page(request, "contacts.html", data=data, q=request.query.get("q", ""),
                done=request.query.get("done"), form={}, errors={})


@routes.post("/moderation/contacts/set")
async def contacts_set(request: web.Request) -> web.Response:
    form = await request.post()
    initiative_id = int_param(form.get("initiative_id"))
    if initiative_id is None:
        raise PageError(400, "err.which_entry")
    try:
        await decisions.set_contact(
            request.app[DB], initiative_id, actor=actor_of(request),
            contact_name=str(form.get("contact_name") or ""),
            contact_email=str(form.get("contact_email") or ""),
            contact_phone=str(form.get("contact_phone") or ""),
            expected_version=int_param(form.get("version")))
    except decisions.DecisionError as exc:
        data = await lists.contacts_overview(request.app[DB], "")
        return page(request, "contacts.html", status=400, data=data, q="", done=None,
                    error=str(exc), form={k: str(v) for k, v in form.items()}, errors={})
    raise redirect("/moderation/contacts", done="contact")


@routes.post("/moderation/contacts/consent")
async def contacts_consent(request: web.Request) -> web.Response:
    """Record consent to publication given another way (a phone call, a signed form)."""
    form = await request.post()
    contact_id = int_param(form.get("contact_id"))
    if contact_id is None or form.get("given") not in ("yes", "no"):
        raise PageError(400, "err.which_contact")
    given = form.get("given") == "yes"
    async with request.app[DB].write() as session:
        contact = await record_consent(session, contact_id, given, source="moderator")
        if contact is None:
            raise PageError(404, "err.no_contact")
        await record_event(session, actor=actor_of(request), action="contact.consent",
                           detail={"contact_id": contact_id, "given": given,
                                   "source": "moderator"})
    # Back to the same search, so the changed row is in view.
    raise redirect("/moderation/contacts", done="consent", q=str(form.get("q") or ""))


@routes.get("/moderation/inbound", name="inbound")
async def inbound(request: web.Request) -> web.Response:
    messages = await lists.quarantined(request.app[DB])
    return page(request, "inbound.html", messages=messages)


@routes.get("/moderation/inbound/{id:\\d+}", name="inbound_item")
async def inbound_item(request: web.Request) -> web.Response:
    lang = lang_of(request)
    found = await lists.inbound_message(request.app[DB], int(request.match_info["id"]),
                                        request.app[SETTINGS].mail_domain, lang)
    if found is None:
        raise PageError(404, "err.no_message")
    msg, mail, raw_text = found
    return page(request, "inbound_item.html", msg=msg, mail=mail, raw_text=raw_text,
                done=request.query.get("done"),
                describe=lambda detail: lists.describe_detail(detail, lang))


@routes.post("/moderation/inbound/{id:\\d+}/replay")
async def inbound_replay(request: web.Request) -> web.Response:
    """Put a quarantined message back to be processed (as ``landkort intake replay``)."""
    mid = int(request.match_info["id"])
    if not await lists.replay_inbound(request.app[DB], mid, actor=actor_of(request)):
        raise PageError(400, "err.cannot_replay")
    raise redirect(f"/moderation/inbound/{mid}", done="replayed")


@routes.get("/moderation/users", name="users")
async def users(request: web.Request) -> web.Response:
    require_admin(request)
    return page(request, "users.html", users=await lists.users(request.app[DB]),
                done=request.query.get("done"))


@routes.post("/moderation/users")
async def users_submit(request: web.Request) -> web.Response:
    require_admin(request)
    form = await request.post()
    db, actor = request.app[DB], actor_of(request)
    try:
        if form.get("action") == "add":
            await create_user(db, str(form.get("username") or ""),
                              str(form.get("password") or ""),
                              role=str(form.get("role") or "moderator"),
                              email=str(form.get("email") or "") or None, actor=actor)
        elif form.get("action") in ("disable", "enable"):
            name = str(form.get("username") or "")
            if name == actor:
                raise AccountError("you cannot disable yourself")
            await set_disabled(db, name, form.get("action") == "disable", actor=actor)
    except AccountError as exc:
        return page(request, "users.html", status=400, users=await lists.users(db),
                    done=None, error=str(exc))
    raise redirect("/moderation/users", done="user")


@web.middleware
async def _language_cookie(request: web.Request, handler: Any) -> web.StreamResponse:
    """Remember ?lang= on the moderation pages."""
    response: web.StreamResponse = await handler(request)
    lang = request.query.get("lang")
    if lang in languages() and (request.path.startswith("/moderation")
                                 or request.path == "/login"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax", path="/")
    return response


def setup(app: web.Application) -> None:
    """Add the moderation routes and the access guard to the app."""
    app.middlewares.append(moderation_guard)
    app.middlewares.append(_language_cookie)
    app.router.add_routes(routes)
    app.router.add_routes(mail_routes.routes)
    app.router.add_routes(vocabulary_routes.routes)
    app.router.add_routes(lead_routes.routes)
    app.router.add_routes(outreach_routes.routes)
    app.router.add_routes(report_routes.routes)
