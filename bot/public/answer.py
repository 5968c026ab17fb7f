"""Answering the yearly mail in two taps or one page: ``/bekraeft/{token}`` and
``/ret/{token}``.

The reminder's personal token (192 random bits, stored hashed, bound to one entry and
its contact, expiring with the reminder) opens

* a **confirm page**: the entry as the registry has it and one button. Only the POST
  confirms — mail security scanners (Safe Links, Defender, Gmail) fetch every link in a
  mail, so a GET never changes anything. The POST carries an HMAC of the token (only our
  own page can send it) and queues a *confirmation*, exactly like a "no changes" reply;
* a **one-page form**, every field prefilled with the right control, read through the
  one field parser (:func:`bot.registry.fields.normalise`) like mail and chat. Only the
  changed fields go to the queue, as one update trusted as the token's contact;
  emptying an optional field removes its value. A value that cannot be read is shown
  beside its field in the contact's language, with what was typed kept.

Both are rate-limited per token and per client, never cached, never sent on as a
Referer, and an unknown or expired link says what to do instead (answer the mail).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core import i18n
from bot.core.appkeys import DB, SETTINGS
from bot.core.clients import client_key
from bot.core.pages import PageError, personal_page, render, request_language
from bot.core.ratelimit import RateLimiter
from bot.core.settings import Settings
from bot.mail.tokens import hash_token, lookup_token
from bot.registry.fields import form_label, format_value, is_clearing, normalise
from bot.registry.models import Contact, Initiative
from bot.registry.record import FIELDS, LIST_FIELDS, MANDATORY_FIELDS
from bot.registry.repository import diff_record
from bot.registry.vocabulary import CHOICES, MUNICIPALITIES, NO_PRO
from intake.parse.leads import listed_leads
from moderation.leads import record_leads
from moderation.models import Submission
from moderation.states import submission_kind
from moderation.submissions import create_submission

# Tokens that stand for an entry's contact: a reminder (sent to the contact's address)
# and a receipt that names the contact (the contact wrote the reply).
PURPOSES = frozenset({"reminder", "receipt"})


@dataclass
class Limits:
    """Presses of a button per token and per client: a person presses a few times; a
    script is stopped early. One pair per app (see :func:`setup_routes`)."""

    per_token: RateLimiter
    per_client: RateLimiter


LIMITS = web.AppKey("answer_limits", Limits)




@dataclass
class Answering:
    """What a personal link stands for: its token row, the entry and the contact."""

    token: str
    token_hash: str
    initiative: Initiative
    contact: Contact | None


def form_mac(settings: Settings, token: str, what: str) -> str:
    """The HMAC our own page puts in its form: a POST without it was not sent from it."""
    return hmac.new(settings.secret_key.encode(), f"answer|{what}|{token}".encode(),
                    hashlib.sha256).hexdigest()


async def answering(session: AsyncSession, token: str) -> Answering | None:
    """The live personal link ``token``, or None (unknown, expired, another purpose)."""
    row = await lookup_token(session, token)
    if row is None or row.purpose not in PURPOSES or row.initiative_id is None:
        return None
    initiative = await session.get(Initiative, row.initiative_id)
    for _ in range(5):  # an entry merged into another: the one that is shown now
        if initiative is None or initiative.merged_into_id is None:
            break
        initiative = await session.get(Initiative, initiative.merged_into_id)
    if initiative is None:
        return None
    contact = await session.get(Contact, row.contact_id) if row.contact_id else None
    return Answering(token, row.token_hash, initiative, contact or initiative.contact)


def _lang(request: web.Request, found: Answering | None) -> str:
    asked = request.query.get("lang")
    if asked in i18n.languages():
        return asked
    known = found.contact.language if found is not None and found.contact else None
    if known and i18n.language_of(known) != i18n.DEFAULT_LANGUAGE:
        # A contact known to write in another language (from their replies) gets it; the
        # stored default says nothing, so the browser decides then.
        return i18n.language_of(known)
    return request_language(request)


def _query(request: web.Request, **extra: str) -> str:
    params = dict(extra)
    lang = request.query.get("lang")
    if lang in i18n.languages():
        params["lang"] = lang
    return "?" + urlencode(params) if params else ""


def _page(request: web.Request, template: str, *, status: int = 200,
          **ctx: Any) -> web.StreamResponse:
    return personal_page(render(request, template, status=status, **ctx))


def _limited(request: web.Request, token: str) -> bool:
    limits = request.app[LIMITS]
    return not (limits.per_token.allow(hash_token(token))
                and limits.per_client.allow(client_key(request.remote)))


def _summary(initiative: Initiative, lang: str) -> list[tuple[str, str]]:
    # The contact's own details too: the link is their credential, and they confirm
    # those as well (as on the consent page).
    record = initiative.record()
    out = []
    for f in FIELDS:
        value = format_value(f.key, record.get(f.key), lang)
        if value:
            out.append((form_label(f.key, lang), value))
    return out


async def _confirmation_of(session: AsyncSession, token_hash: str) -> Submission | None:
    return await session.scalar(select(Submission).where(
        Submission.idempotency_key == f"confirm:{token_hash}"))


# ---------------------------------------------------------------------------------------
# Confirm in two taps


async def confirm_page(request: web.Request) -> web.StreamResponse:
    """GET: the entry and one button (changes nothing: scanners open every link)."""
    token = request.match_info["token"]
    async with request.app[DB].read() as session:
        found = await answering(session, token)
        done = await _confirmation_of(session, found.token_hash) if found else None
    lang = _lang(request, found)
    if found is None:
        return _page(request, "answer_confirm.html", status=404, state="invalid", lang=lang)
    state = "thanks" if request.query.get("done") == "1" and done else (
        "already" if done else "ask")
    return _page(request, "answer_confirm.html", state=state, lang=lang,
                 title=found.initiative.title, summary=_summary(found.initiative, lang),
                 token=token, query=_query(request),
                 confirmed_on=done.created_at.date().isoformat() if done else "",
                 mac=form_mac(request.app[SETTINGS], token, "confirm"))


async def confirm_post(request: web.Request) -> web.StreamResponse:
    """POST: queue the confirmation (once per link), then thank (303 to the GET)."""
    token = request.match_info["token"]
    form = await request.post()
    settings = request.app[SETTINGS]
    if not hmac.compare_digest(str(form.get("mac") or ""),
                               form_mac(settings, token, "confirm")):
        raise PageError(403, "err.open_link")
    if _limited(request, token):
        return _page(request, "answer_confirm.html", status=429, state="slow",
                     lang=request_language(request))
    async with request.app[DB].write() as session:
        found = await answering(session, token)
        if found is not None:
            await _queue(session, found, kind="confirmation", proposed={},
                         key=f"confirm:{found.token_hash}", lang=_lang(request, found))
    if found is None:
        return _page(request, "answer_confirm.html", status=404, state="invalid",
                     lang=_lang(request, None))
    raise web.HTTPSeeOther(f"/bekraeft/{token}{_query(request, done='1')}")


async def _queue(session: AsyncSession, found: Answering, *, kind: str,
                 proposed: dict[str, Any], key: str, lang: str) -> Submission | None:
    contact = found.contact
    return await create_submission(
        session, kind=kind, channel="web", proposed=proposed, initiative=found.initiative,
        sender_email=contact.email if contact else None,
        sender_name=contact.name if contact else None, language=lang,
        token_matched=True, idempotency_key=key,
        actor=f"web:{contact.email}" if contact and contact.email else "web")


# ---------------------------------------------------------------------------------------
# One page, prefilled


def form_fields(record: dict[str, Any], lang: str, typed: dict[str, Any] | None,
                 errors: dict[str, str]) -> list[dict[str, Any]]:
    """What the template needs per field: its control, label, value and error."""
    out = []
    for f in FIELDS:
        label = form_label(f.key, lang)
        value = record.get(f.key)
        item: dict[str, Any] = {"key": f.key, "label": label, "error": errors.get(f.key),
                                "optional": not f.mandatory, "hint": None,
                                "datalist": None, "input_type": "text",
                                "autocomplete": "off", "options": []}
        if f.key in CHOICES and not f.is_list:
            unstated = [] if f.mandatory else [("", i18n.gettext(lang)("ans.not_stated"), "")]
            item.update(control="radio", options=unstated + [
                (t.key, t.label(lang), t.help(lang)) for t in CHOICES[f.key]],
                value=(typed or {}).get(f.key, value or ""))
        elif f.key in CHOICES:
            chosen = (typed or {}).get(f.key, value or [])
            item.update(control="checkbox", options=[(t.key, t.label(lang), "")
                                                     for t in CHOICES[f.key]],
                        value=list(chosen))
        elif f.kind == "longtext":
            item.update(control="textarea",
                        value=(typed or {}).get(f.key, format_value(f.key, value, lang)))
        else:
            item.update(control="text",
                        value=(typed or {}).get(f.key, format_value(f.key, value, lang)),
                        input_type={"email": "email", "url": "url", "phone": "tel"}.get(
                            f.kind, "text"),
                        hint={"date": "ans.hint_date", "text_list": "ans.hint_list",
                              "municipality_list": "ans.hint_municipalities"}.get(f.kind),
                        datalist="municipalities" if f.key == "municipalities" else None,
                        autocomplete={"contact_name": "name", "contact_email": "email",
                                      "contact_phone": "tel"}.get(f.key, "off"))
        out.append(item)
    return out


def read_form(form: Any, lang: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(values, errors, typed) from the posted form, each field through the one parser.

    Radio buttons and checkboxes post vocabulary keys; text is normalised as mail and
    chat are. An empty optional field is ``None``/``[]`` (remove the value); an empty
    mandatory one is an error."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    for f in FIELDS:
        if f.key in CHOICES and f.is_list:
            keys = {t.key for t in CHOICES[f.key]}
            chosen = sorted({str(v) for v in form.getall(f.key, []) if str(v) in keys})
            if len(chosen) > 1 and NO_PRO in chosen and f.key == "pro":
                chosen.remove(NO_PRO)  # "none" stands alone, as in the field parser
            typed[f.key] = chosen
            if not chosen and f.mandatory:
                errors[f.key] = i18n.gettext(lang)("ans.required")
            values[f.key] = chosen
            continue
        raw = str(form.get(f.key) or "").strip()
        typed[f.key] = raw
        if f.key in CHOICES:
            if raw in {t.key for t in CHOICES[f.key]}:
                values[f.key] = raw
            elif f.mandatory:
                errors[f.key] = i18n.gettext(lang)("ans.required")
            elif not raw:
                values[f.key] = None
            continue
        if not raw or is_clearing(raw, f.key):
            if f.key in MANDATORY_FIELDS:
                errors[f.key] = i18n.gettext(lang)("ans.required")
            else:
                values[f.key] = [] if f.key in LIST_FIELDS else None
            continue
        got = normalise(f.key, raw, lang)
        if got.problem is not None:
            errors[f.key] = got.problem.message
        elif got.value is not None:
            values[f.key] = got.value
    return values, errors, typed


async def form_page(request: web.Request) -> web.StreamResponse:
    """GET: the one-page form, prefilled with the entry as the registry has it."""
    token = request.match_info["token"]
    async with request.app[DB].read() as session:
        found = await answering(session, token)
    lang = _lang(request, found)
    if found is None:
        return _page(request, "answer_form.html", status=404, state="invalid", lang=lang)
    state = request.query.get("done")
    return _page(request, "answer_form.html", lang=lang,
                 state=state if state in ("sent", "unchanged") else "form",
                 title=found.initiative.title, token=token, query=_query(request),
                 fields=form_fields(found.initiative.record(), lang, None, {}),
                 municipalities=MUNICIPALITIES, errors={},
                 mac=form_mac(request.app[SETTINGS], token, "form"))


async def form_post(request: web.Request) -> web.StreamResponse:
    """POST: read every field; errors beside their fields (typed values kept), or the
    changed fields queued as one update (none changed: a confirmation), then 303."""
    token = request.match_info["token"]
    form = await request.post()
    settings = request.app[SETTINGS]
    if not hmac.compare_digest(str(form.get("mac") or ""), form_mac(settings, token, "form")):
        raise PageError(403, "err.open_link")
    if _limited(request, token):
        return _page(request, "answer_form.html", status=429, state="slow",
                     lang=request_language(request))
    async with request.app[DB].read() as session:
        found = await answering(session, token)
    lang = _lang(request, found)
    if found is None:
        return _page(request, "answer_form.html", status=404, state="invalid", lang=lang)
    values, errors, typed = read_form(form, lang)
    current = found.initiative.record()
    if errors:
        return _page(request, "answer_form.html", status=400, state="form", lang=lang,
                     title=found.initiative.title, token=token, query=_query(request),
                     fields=form_fields(current, lang, typed, errors),
                     municipalities=MUNICIPALITIES, errors=errors,
                     mac=form_mac(settings, token, "form"),
                     leads_typed=str(form.get("leads") or "")[:5000])
    changes = diff_record(current, values)
    digest = hashlib.sha256(repr(sorted(changes.items())).encode()).hexdigest()[:16]
    mentioned = listed_leads(str(form.get("leads") or "")[:5000])
    async with request.app[DB].write() as session:
        again = await answering(session, token)
        if again is not None:
            if mentioned:
                contact = again.contact
                await record_leads(
                    session, mentioned, channel="web",
                    key=f"form:{again.token_hash}:leads:" + hashlib.sha256(
                        repr([m.text for m in mentioned]).encode()).hexdigest()[:16],
                    mentioned_by=contact.email if contact else None,
                    mentioned_by_name=contact.name if contact else None,
                    initiative_id=again.initiative.id)
            if changes:
                await _queue(session, again, kind=submission_kind(changes),
                             proposed=changes, key=f"form:{again.token_hash}:{digest}",
                             lang=lang)
            else:
                await _queue(session, again, kind="confirmation", proposed={},
                             key=f"confirm:{again.token_hash}", lang=lang)
    done = "sent" if changes else "unchanged"
    raise web.HTTPSeeOther(f"/ret/{token}{_query(request, done=done)}")


def setup_routes(app: web.Application) -> None:
    """Add the confirm page and the one-page form (with their rate limits)."""
    settings = app[SETTINGS]
    app[LIMITS] = Limits(RateLimiter(settings.answer_posts_per_token, 60.0),
                         RateLimiter(settings.answer_posts_per_client, 60.0))
    app.router.add_get("/bekraeft/{token}", confirm_page, name="answer_confirm")
    app.router.add_post("/bekraeft/{token}", confirm_post, name="answer_confirm_post")
    app.router.add_get("/ret/{token}", form_page, name="answer_form")
    app.router.add_post("/ret/{token}", form_post, name="answer_form_post")


__all__ = ["LIMITS", "PURPOSES", "Limits", "answering", "confirm_page", "confirm_post",
           "form_fields", "form_mac", "form_page", "form_post", "read_form", "setup_routes"]
