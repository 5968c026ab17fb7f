"""What a parsed message becomes: exactly one outcome per message.

:func:`apply_outcome` runs inside the processor's write transaction for one message and
turns a :class:`intake.parse.message.ParseResult` into one of

=====================  ==================================================================
outcome                effect
=====================  ==================================================================
``submission``         a queue item (:func:`moderation.submissions.create_submission`, key
                       ``inbound:<id>``): *update* (only the fields that differ from the
                       entry), *confirmation*, *contact_change* or *new*
``needs_info_answer``  the sender answered a moderator's question: the fields are merged
                       into that submission, which goes back to ``pending``
``bounce``             a :class:`BounceEvent`; the contact becomes ``bouncing`` on a hard
                       bounce or the third soft one (RFC 3464 status 5.x.x / 4.x.x)
``auto_reply``         recorded, nothing else (RFC 3834)
``opt_out``            the contact is ``opted_out``; their entries need a new contact
``own_mail``           From is our own address (a loop): ignored
``unknown``            nothing understood and no fields: left for moderators to read
=====================  ==================================================================

and queues at most one answer to the sender (:mod:`intake.mail.answers`). Nothing here commits
or touches the network; the pure helpers (:func:`submission_kind`,
:func:`bounce_transition`, :func:`missing_field_problems`, :func:`is_own_address`) are
what tests call directly. Nothing changes the registry itself (rule 4): the contact's
mail status is bookkeeping about deliverability, not registry content.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import dbnow
from bot.core.i18n import language_of
from bot.core.i18n import text as catalogue_text
from bot.core.settings import Settings
from bot.mail.contacts import opt_out_contact
from bot.mail.models import BounceEvent, OutboxMessage, ReplyToken
from bot.mail.outbox import compose, enqueue, new_message_id, unsubscribe_url
from bot.mail.status import apply_bounce, bounce_transition
from bot.mail.templates import render_mail
from bot.mail.tokens import TOKEN_RE, issue_token, lookup_token
from bot.registry.duplicates import find_duplicates
from bot.registry.fields import Problem, form_label
from bot.registry.models import Contact, Initiative
from bot.registry.record import missing_mandatory
from bot.registry.repository import diff_record
from intake.mail.answers import answer_block_reason, queue_answer, take_answer_slot
from intake.parse.message import ParseResult
from moderation.audit import record_event
from moderation.leads import record_leads
from moderation.models import Submission
from moderation.states import UNDECIDED_STATES, submission_kind
from moderation.submissions import create_submission, merge_answer

log = logging.getLogger(__name__)

NOTE_MAX_CHARS = 10_000
ACTOR = "intake"
# Token purposes that tie a reply to an entry and its contact.
ENTRY_PURPOSES = ("reminder", "receipt", "problems")
_UNSUBSCRIBE_TOKEN = re.compile(r"\b(?:afmeld|unsubscribe)\s+([A-Za-z0-9_-]{16,64})\b",
                                re.IGNORECASE)


@dataclass
class MailOutcome:
    """The one thing a message became, with what moderators should see about it."""

    outcome: str
    submission_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Pure helpers


def sender_address(parsed: ParseResult) -> str | None:
    """The address a mail's outcome and answer go by: From, lower case, no NUL."""
    return (parsed.from_addr or "").replace("\x00", "").lower() or None


def is_own_address(addr: str | None, settings: Settings) -> bool:
    """True for the intake address and its ``+token`` forms (a mail loop)."""
    if not addr:
        return False
    local, _, domain = addr.lower().rpartition("@")
    own_local = settings.mailbox_local_part.lower()
    return domain == settings.mail_domain.lower() and (
        local == own_local or local.startswith(own_local + "+"))


def missing_field_problems(proposed: Mapping[str, Any], lang: str) -> list[Problem]:
    """One problem per mandatory field a new submission lacks."""
    return [Problem(key, catalogue_text(lang, "field.missing", label=form_label(key, lang)))
            for key in missing_mandatory(proposed)]


def unsubscribe_token(parsed: ParseResult) -> str | None:
    """The token of a List-Unsubscribe mailto (``subject=afmeld TOKEN``), if any."""
    m = _UNSUBSCRIBE_TOKEN.search(parsed.subject or "")
    if m and TOKEN_RE.match(m.group(1)):
        return m.group(1)
    return parsed.reply_token


def _note(parsed: ParseResult) -> str | None:
    text = (parsed.reply_text or "").replace("\x00", "").strip()  # PostgreSQL text: no NUL
    return text[:NOTE_MAX_CHARS] or None


def _problem_dicts(problems: list[Problem]) -> list[dict[str, str]]:
    return [p.as_dict() for p in problems]


# ---------------------------------------------------------------------------------------
# The outcome


@dataclass
class _Ctx:
    session: AsyncSession
    settings: Settings
    inbound_id: int
    parsed: ParseResult
    headers: Message | Mapping[str, str]
    own_mail: bool = False

    @property
    def lang(self) -> str:
        return language_of(self.parsed.language)

    @property
    def sender(self) -> str | None:
        return sender_address(self.parsed)

    @property
    def sender_name(self) -> str | None:
        return (self.parsed.from_name or "").replace("\x00", "")[:200] or None


# Outcomes of a person's own words: what they mention may be a lead (#19).
# Not from mail nobody could place ("unknown"): anyone can send that, and leads from
# spam would bury the real ones.
_LEAD_OUTCOMES = frozenset({"submission", "needs_info_answer"})


async def apply_outcome(session: AsyncSession, settings: Settings, inbound_id: int,
                        parsed: ParseResult, headers: Message | Mapping[str, str]) -> MailOutcome:
    """Turn one parsed message (stored as ``inbound_id``) into its outcome, in the
    caller's transaction; the initiatives the parser found mentioned become leads."""
    outcome = await _outcome(session, settings, inbound_id, parsed, headers)
    if outcome.outcome in _LEAD_OUTCOMES and parsed.leads:
        sub = (await session.get(Submission, outcome.submission_id)
               if outcome.submission_id else None)
        added = await record_leads(
            session, parsed.leads, channel="email", key=f"inbound:{inbound_id}",
            mentioned_by=(parsed.from_addr or "").lower() or None,
            mentioned_by_name=parsed.from_name or None,
            initiative_id=sub.initiative_id if sub else None,
            submission_id=outcome.submission_id, inbound_message_id=inbound_id)
        if added:
            outcome.detail["leads"] = added
    return outcome


async def _outcome(session: AsyncSession, settings: Settings, inbound_id: int,
                   parsed: ParseResult, headers: Message | Mapping[str, str]) -> MailOutcome:
    ctx = _Ctx(session, settings, inbound_id, parsed, headers)
    if is_own_address(ctx.sender, settings):
        ctx.own_mail = True
        return MailOutcome("own_mail", detail={"reason": "From is our own address"})
    if parsed.kind == "bounce":
        return await _bounce(ctx)
    if parsed.kind == "auto_reply":
        return MailOutcome("auto_reply")
    if parsed.kind == "unsubscribe":
        return await _opt_out(ctx)

    token_row = await lookup_token(session, parsed.reply_token)
    token_matched = token_row is not None
    if token_row is None:
        token_row = await _token_by_thread(ctx)
    if token_row is not None:
        if token_row.purpose == "unsubscribe":
            return await _opt_out(ctx)
        if token_row.submission_id is not None and (
                token_row.purpose == "needs_info" or token_row.initiative_id is None):
            sub = await session.get(Submission, token_row.submission_id)
            if sub is not None and sub.state in UNDECIDED_STATES:
                return await _merge_into_submission(ctx, sub, token_row, token_matched)
        if token_row.initiative_id is not None:
            initiative = await session.get(Initiative, token_row.initiative_id)
            if initiative is not None:
                if initiative.merged_into_id is not None:
                    initiative = await session.get(Initiative, initiative.merged_into_id)
                if initiative is not None:
                    return await _reply_to_entry(ctx, initiative, token_row, token_matched)
    if parsed.fields or parsed.kind == "submission":
        return await _new_submission(ctx)
    return MailOutcome("unknown", detail={
        "reason": "no reply token, no thread match and no fields",
        "problems": _problem_dicts(parsed.problems)})


async def _token_by_thread(ctx: _Ctx) -> ReplyToken | None:
    """Fallback when the token was lost: In-Reply-To/References naming a mail we sent."""
    ids = [i for i in [ctx.parsed.in_reply_to, *ctx.parsed.references] if i]
    if not ids:
        return None
    # A reminder carries two tokens (reply and unsubscribe) with the same Message-ID and
    # time: a reply that lost its token is an answer, never an opt-out.
    row = (await ctx.session.scalars(
        select(ReplyToken).where(ReplyToken.outbox_message_id.in_(ids),
                                 ReplyToken.purpose != "unsubscribe")
        .order_by(ReplyToken.created_at.desc(), ReplyToken.token_hash).limit(1))).first()
    if row is not None:
        # An expired token is not honoured through the thread either (nor through the
        # mail that carried it, below).
        expired = row.expires_at is not None and row.expires_at < dbnow()
        return None if expired else row
    out = (await ctx.session.scalars(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(ids),
                                    OutboxMessage.initiative_id.is_not(None))
        .order_by(OutboxMessage.id.desc()).limit(1))).first()
    if out is None:
        return None
    # A stand-in token row (not stored) carrying what the mail we sent was about.
    return ReplyToken(token_hash="", purpose="reminder", initiative_id=out.initiative_id,
                      contact_id=out.contact_id, submission_id=out.submission_id,
                      outbox_message_id=out.message_id)


def trusted_auth_results(header: str | None, settings: Settings) -> str | None:
    """The topmost Authentication-Results header when our own receiving server wrote it.

    RFC 8601 §5: a receiving server removes A-R headers bearing its authserv-id from
    incoming mail and adds its own on top; any other (or a lower one) may be written by
    the sender. So only the first header, and only with the configured ``auth_serv_id``,
    is kept; without that setting no sender's claim of SPF/DKIM/DMARC is shown.
    """
    if not header or not settings.auth_serv_id:
        return None
    words = header.split(";", 1)[0].split()  # "; spf=pass" names no server at all
    return header if words and words[0].lower() == settings.auth_serv_id.strip().lower() \
        else None


async def _bounced_mail(ctx: _Ctx) -> OutboxMessage | None:
    """The mail of ours this bounce reports on, or None.

    Anyone can send a ``multipart/report`` naming any address, so a bounce counts only
    when it cites the Message-ID of a mail we really sent (in its own headers, in the
    returned original's headers, or in its text). Our Message-IDs are 128-bit random
    (:func:`bot.mail.outbox.new_message_id`): a stranger knows only those of mail sent to
    themselves, and such a bounce can only ever touch that mail's own recipient.
    """
    ids = ctx.parsed.cited_ids
    if not ids:
        return None
    return (await ctx.session.scalars(
        select(OutboxMessage).where(OutboxMessage.message_id.in_(ids))
        .order_by(OutboxMessage.id.desc()).limit(1))).first()


async def _bounce(ctx: _Ctx) -> MailOutcome:
    info = ctx.parsed.bounce
    reported = (info.recipient or "").strip().lower() if info else ""
    permanent = bool(info.permanent) if info else True
    status = info.status if info else None
    sent = await _bounced_mail(ctx)
    if sent is None:
        # Not tied to mail we sent: nobody's address state changes; moderators see it.
        return MailOutcome("unknown", detail={
            "reason": "a bounce that cites no mail we sent (not trusted)",
            "reported_recipient": reported or None, "status": status})
    # The address we wrote to, whatever the report says (a forwarder may have rewritten
    # the recipient, and a forged report may name someone else).
    recipient = sent.to_addr
    contact = None
    if recipient:
        contact = await ctx.session.scalar(select(Contact).where(Contact.email == recipient))
    ctx.session.add(BounceEvent(address=recipient or "(unknown)",
                                contact_id=contact.id if contact else None, status=status,
                                permanent=permanent, inbound_message_id=ctx.inbound_id))
    detail: dict[str, Any] = {"recipient": recipient or None, "status": status,
                              "permanent": permanent, "outbox_message_id": sent.message_id}
    if reported and reported != recipient:
        detail["reported_recipient"] = reported
    if contact is not None:
        became_bouncing = await apply_bounce(ctx.session, contact, permanent=permanent)
        detail.update(contact_id=contact.id, email_status=contact.email_status)
        if became_bouncing:
            await record_event(ctx.session, actor=ACTOR, action="contact.bouncing",
                               detail={"contact_id": contact.id, "status": status,
                                       "inbound_message_id": ctx.inbound_id})
            log.info("contact %s (%s) is now bouncing", contact.id, recipient)
    return MailOutcome("bounce", detail=detail)


# A mailed unsubscribe link lives as long as people take to read their mail.
OPT_OUT_LINK_TTL = timedelta(days=30)
# A receipt's or a "please fix" answer's token: long enough to answer or open the chat.
ANSWER_TOKEN_TTL = timedelta(days=30)


async def _opt_out(ctx: _Ctx) -> MailOutcome:
    """Opt out on proof, ask otherwise.

    Proof is a token of ours: the ``afmeld TOKEN`` of our List-Unsubscribe mailto (RFC
    2369), or the reply token of a mail we sent to this very contact, answered from the
    contact's own address. A From address alone proves nothing (anyone can write it), so
    without a token the contact is mailed a confirmation link (:mod:`bot.public.unsubscribe`:
    GET shows a button, only the POST opts out) and nothing changes until it is used.
    """
    contact = None
    row = await lookup_token(ctx.session, unsubscribe_token(ctx.parsed))
    if row is not None and row.contact_id is not None:
        candidate = await ctx.session.get(Contact, row.contact_id)
        if candidate is not None and (row.purpose == "unsubscribe" or (
                ctx.sender is not None and (candidate.email or "").lower() == ctx.sender)):
            contact = candidate
    if contact is None:
        return await _opt_out_by_link(ctx)
    first_time = contact.email_status != "opted_out"
    # The same opt-out as the one-click link: flag the entries, cancel unsent reminders.
    await opt_out_contact(ctx.session, contact.id)
    await record_event(ctx.session, actor=ACTOR, action="contact.opted_out",
                       detail={"contact_id": contact.id, "inbound_message_id": ctx.inbound_id,
                               "channel": "email"})
    log.info("contact %s opted out by mail", contact.id)
    detail: dict[str, Any] = {"contact_id": contact.id}
    detail["answer"] = await _opt_out_confirmation(ctx, contact) if first_time else \
        "suppressed:already_opted_out"
    return MailOutcome("opt_out", detail=detail)


async def _opt_out_by_link(ctx: _Ctx) -> MailOutcome:
    """An unproven opt-out request: mail the contact (at their stored address, which is
    the sender's here) a one-time link instead of acting."""
    contact = await ctx.session.scalar(select(Contact).where(Contact.email == ctx.sender)) \
        if ctx.sender else None
    if contact is None:
        return MailOutcome("opt_out", detail={"contact_id": None,
                                          "reason": "no contact with this address"})
    if contact.email_status == "opted_out":
        return MailOutcome("opt_out", detail={"contact_id": contact.id,
                                          "answer": "suppressed:already_opted_out"})
    answer = await _opt_out_link_mail(ctx, contact)
    return MailOutcome("opt_out_requested", detail={
        "contact_id": contact.id, "answer": answer,
        "reason": "no token: a confirmation link was mailed, nothing changed yet"})


async def _opt_out_link_mail(ctx: _Ctx, contact: Contact) -> str:
    reason = answer_block_reason(ctx.headers, kind=ctx.parsed.kind, from_addr=ctx.sender)
    if reason is not None:
        return f"suppressed:{reason}"
    assert ctx.sender is not None and contact.email
    if not await take_answer_slot(ctx.session, ctx.sender, ctx.settings.auto_answers_per_day):
        return "suppressed:daily_limit"
    token = await issue_token(ctx.session, purpose="unsubscribe", contact_id=contact.id,
                              ttl=OPT_OUT_LINK_TTL)
    lang = language_of(contact.language) if contact.language else ctx.lang
    mail = render_mail("opt_out_confirm", lang, contact_name=contact.name or "",
                       email=contact.email, link=unsubscribe_url(ctx.settings, token))
    msg = compose(ctx.settings, to_addr=contact.email, mail=mail, kind="opt_out_confirm",
                  to_name=contact.name, in_reply_to=ctx.parsed.message_id)
    row = await enqueue(ctx.session, msg, kind="opt_out_confirm",
                        idempotency_key=f"answer:{ctx.inbound_id}", contact_id=contact.id)
    return "opt_out_confirm" if row is not None else "already_queued"


async def _opt_out_confirmation(ctx: _Ctx, contact: Contact) -> str:
    """A short "you are unsubscribed" mail — never to an auto-responder (RFC 3834)."""
    reason = answer_block_reason(ctx.headers, kind=ctx.parsed.kind, from_addr=ctx.sender)
    if reason is not None:
        return f"suppressed:{reason}"
    assert ctx.sender is not None
    if not await take_answer_slot(ctx.session, ctx.sender, ctx.settings.auto_answers_per_day):
        return "suppressed:daily_limit"
    titles = list((await ctx.session.scalars(select(Initiative.title).where(
        Initiative.contact_id == contact.id, Initiative.merged_into_id.is_(None))
        .order_by(Initiative.title))).all())
    lang = language_of(contact.language) if contact.language else ctx.lang
    mail = render_mail("opt_out", lang, contact_name=contact.name or "",
                       email=contact.email or ctx.sender, titles=titles)
    msg = compose(ctx.settings, to_addr=contact.email or ctx.sender, mail=mail, kind="opt_out",
                  to_name=contact.name, in_reply_to=ctx.parsed.message_id)
    row = await enqueue(ctx.session, msg, kind="opt_out",
                        idempotency_key=f"answer:{ctx.inbound_id}", contact_id=contact.id)
    return "opt_out" if row is not None else "already_queued"


async def _reply_to_entry(ctx: _Ctx, initiative: Initiative, token_row: ReplyToken,
                          token_matched: bool) -> MailOutcome:
    parsed = ctx.parsed
    current = initiative.record()
    changes = diff_record(current, parsed.fields)
    # Nothing read and nothing confirmed: a person wrote, in words we could not place. The
    # moderators read it; the sender gets no "please fix" mail (there is nothing to fix).
    nothing_read = not parsed.fields and not parsed.problems \
        and not parsed.confirmed_unchanged
    kind = submission_kind(changes, problems=bool(parsed.problems) or nothing_read)
    flags: list[str] = ["nothing_read"] if nothing_read else []
    contact = None
    if token_row.contact_id is not None:
        contact = await ctx.session.get(Contact, token_row.contact_id)
    contact = contact or initiative.contact
    # No From (or one we could not read) is not the contact either.
    sender_is_contact = not (contact is not None and contact.email) or \
        ctx.sender == contact.email.lower()
    if not sender_is_contact:
        # Someone else holds the contact's token (a forward, or a leak): the reply is
        # linked to the entry but trusted as nobody's (no bulk approval as the contact).
        flags.append("sender_differs")
        token_matched = False
    sub = await create_submission(
        ctx.session, kind=kind, channel="email", proposed=changes, initiative=initiative,
        problems=_problem_dicts(parsed.problems), flags=flags, sender_email=ctx.sender,
        sender_name=ctx.sender_name, language=ctx.lang, token_matched=token_matched,
        auth_results=trusted_auth_results(parsed.auth_results, ctx.settings),
        inbound_message_id=ctx.inbound_id,
        idempotency_key=f"inbound:{ctx.inbound_id}", note=_note(parsed),
        field_sources=_field_sources(parsed), actor=ACTOR)
    if token_matched and token_row.used_at is None and token_row.token_hash:
        token_row.used_at = dbnow()
    detail: dict[str, Any] = {"token_purpose": token_row.purpose, "token_matched": token_matched,
                              "initiative_id": initiative.id, "kind": kind,
                              "changed": sorted(changes), "flags": flags}
    if sub is None:  # already queued by an earlier run of this message
        detail["note"] = "submission existed (idempotency key)"
        return MailOutcome("submission", detail=detail)
    if nothing_read:
        detail["answer"] = "none:nothing_read"
        return MailOutcome("submission", submission_id=sub.id, detail=detail)
    form_record = {**current, **changes}
    detail["answer"] = await _answer(
        ctx, problems=parsed.problems, title=initiative.title, submission=sub,
        form_record=form_record, changed=list(changes), kind=kind,
        # The receipt's link stands for the contact only when the contact wrote: a chat
        # opened with a stranger's receipt is verified by e-mail like any other.
        token_args={"initiative_id": initiative.id,
                    "contact_id": contact.id if contact and sender_is_contact else None})
    return MailOutcome("submission", submission_id=sub.id, detail=detail)


async def _merge_into_submission(ctx: _Ctx, sub: Submission, token_row: ReplyToken,
                                 token_matched: bool) -> MailOutcome:
    """The answer to a moderator's question (or to a problems mail about a new entry):
    moderation merges it into the open submission; we answer the sender."""
    parsed = ctx.parsed
    merged = await merge_answer(
        ctx.session, sub, fields=parsed.fields, problems=_problem_dicts(parsed.problems),
        sender=ctx.sender, note=_note(parsed), actor=ACTOR, inbound_message_id=ctx.inbound_id,
        field_sources=_field_sources(parsed))
    if token_matched and token_row.used_at is None and token_row.token_hash:
        token_row.used_at = dbnow()
    detail: dict[str, Any] = {"token_purpose": token_row.purpose, "submission_id": sub.id,
                              "merged": sorted(merged.fields), "from_state": merged.from_state}
    initiative = None
    if sub.initiative_id is not None:
        initiative = await ctx.session.get(Initiative, sub.initiative_id)
    current = initiative.record() if initiative is not None else {}
    proposed = dict(sub.proposed or {})
    remaining_problems = [Problem(p.get("field", ""), p.get("message", ""))
                          for p in merged.remaining]
    detail["answer"] = await _answer(
        ctx, problems=remaining_problems, title=proposed.get("title") or (
            initiative.title if initiative else None), submission=sub,
        form_record={**current, **proposed}, changed=sorted(merged.fields), kind=sub.kind,
        token_args={"submission_id": sub.id} if initiative is None else {
            "initiative_id": initiative.id, "contact_id": initiative.contact_id})
    return MailOutcome("needs_info_answer", submission_id=sub.id, detail=detail)


def _field_sources(parsed: ParseResult) -> dict[str, dict[str, str]]:
    """Where each field came from when not from a label line: a sentence (a suggestion)
    or an edit typed into the quoted reminder, with its text, for the moderators."""
    out = {key: {"via": "quoted_form", "text": parsed.inline_from.get(key, "")}
           for key in parsed.inline}
    out.update({key: {"via": "sentence", "text": parsed.inferred_from.get(key, "")}
                for key in parsed.inferred})
    return out


async def _new_submission(ctx: _Ctx) -> MailOutcome:
    parsed = ctx.parsed
    proposed = dict(parsed.fields)
    # The sender is the natural contact of what they submit, unless they name another.
    if ctx.sender and not proposed.get("contact_email"):
        proposed["contact_email"] = ctx.sender
        if ctx.sender_name and not proposed.get("contact_name"):
            proposed["contact_name"] = ctx.sender_name
    problems = list(parsed.problems)
    missing = missing_field_problems(proposed, ctx.lang)
    given_problem_fields = {p.field for p in problems}
    problems += [p for p in missing if p.field not in given_problem_fields]
    flags: list[str] = []
    if missing:
        flags.append("missing_fields")
    candidates = await find_duplicates(ctx.session, proposed)
    if candidates:
        flags.append("likely_duplicate")
    sub = await create_submission(
        ctx.session, kind="new", channel="email", proposed=proposed,
        problems=_problem_dicts(problems), flags=flags, sender_email=ctx.sender,
        sender_name=ctx.sender_name, language=ctx.lang,
        token_matched=False, auth_results=trusted_auth_results(parsed.auth_results,
                                                               ctx.settings),
        inbound_message_id=ctx.inbound_id, idempotency_key=f"inbound:{ctx.inbound_id}",
        note=_note(parsed), duplicate_candidates=candidates, field_sources=_field_sources(parsed),
        actor=ACTOR)
    detail: dict[str, Any] = {"kind": "new", "flags": flags,
                              "duplicates": [c.get("initiative_id") for c in candidates]}
    if sub is None:
        detail["note"] = "submission existed (idempotency key)"
        return MailOutcome("submission", detail=detail)
    detail["answer"] = await _answer(
        ctx, problems=problems, title=proposed.get("title"), submission=sub,
        form_record=proposed, changed=[], kind="new",
        token_args={"submission_id": sub.id})
    return MailOutcome("submission", submission_id=sub.id, detail=detail)


async def _answer(ctx: _Ctx, *, problems: list[Problem], title: str | None,
                  submission: Submission, form_record: Mapping[str, Any], changed: list[str],
                  kind: str, token_args: dict[str, Any]) -> str:
    """Queue the receipt or the problems answer; returns what was done (for ``detail``)."""
    reason = answer_block_reason(ctx.headers, kind=ctx.parsed.kind, from_addr=ctx.sender,
                                 own_mail=ctx.own_mail)
    if reason is not None:
        return f"suppressed:{reason}"
    assert ctx.sender is not None
    if not await take_answer_slot(ctx.session, ctx.sender, ctx.settings.auto_answers_per_day):
        log.info("inbound %s: daily answer limit reached for %s", ctx.inbound_id, ctx.sender)
        return "suppressed:daily_limit"
    answer = "problems" if problems else "receipt"
    # The Message-ID is fixed now so the token remembers which mail carried it (the
    # In-Reply-To fallback when a mail client drops the token).
    message_id = new_message_id(ctx.settings.mail_domain)
    token = await issue_token(ctx.session, purpose=answer, outbox_message_id=message_id,
                              ttl=ANSWER_TOKEN_TTL, **token_args)
    queued = await queue_answer(
        ctx.session, ctx.settings, inbound_id=ctx.inbound_id, answer=answer,
        to_addr=ctx.sender, to_name=ctx.sender_name, lang=ctx.lang,
        in_reply_to=ctx.parsed.message_id, token=token, title=title,
        submission_kind=kind, changed=changed, problems=[p.message for p in problems],
        form_record=form_record, contact_id=token_args.get("contact_id"),
        initiative_id=token_args.get("initiative_id"), submission_id=submission.id,
        message_id=message_id)
    return answer if queued else "already_queued"


__all__ = ["MailOutcome", "apply_outcome", "bounce_transition", "is_own_address",
           "missing_field_problems", "sender_address", "submission_kind",
           "unsubscribe_token"]
