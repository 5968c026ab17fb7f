"""Everything the item page shows about one queue item, gathered in plain functions.

The field diff, trust signals, the original mail (text; HTML only after sanitising with
nh3), the entry's version history and likely duplicates. Handlers in
:mod:`moderation.web.routes` only call :func:`load_item` and render.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import nh3
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.links.store import dead_links_in, link_for_mail
from bot.registry.duplicates import find_duplicates
from bot.registry.evaluation_reports import ReportInfo, report_info
from bot.registry.fields import Problem, form_label, format_value, normalise, split_list
from bot.registry.models import Initiative
from bot.registry.record import FIELD, FIELD_KEYS, LIST_FIELDS, missing_mandatory
from bot.registry.repository import diff_record, history
from bot.registry.terms import VOCABULARIES, term_index
from bot.registry.vocabulary import CHOICES
from intake.inbox.models import InboundMessage
from intake.parse.decode import file_payload
from moderation.models import Submission
from moderation.web.history import VersionLine, version_lines

# Tags a sanitised HTML mail may keep: text structure only. No images (no web bugs, no
# outside requests), no forms, no styles, no scripts.
SAFE_TAGS = {"p", "br", "div", "span", "b", "strong", "i", "em", "u", "ul", "ol", "li",
             "table", "thead", "tbody", "tr", "td", "th", "blockquote", "pre", "code",
             "h1", "h2", "h3", "h4", "h5", "h6", "hr", "a"}
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"},
                   "th": {"colspan", "rowspan"}}


def sanitise_html(html: str) -> str:
    """Mail HTML reduced to harmless markup (links only http/https/mailto)."""
    return nh3.clean(html, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow ugc", strip_comments=True)


@dataclass(frozen=True)
class FieldRow:
    key: str
    label: str
    current: str
    proposed: str
    in_proposal: bool
    changed: bool
    edit_value: str
    # The proposal removes the value (the sender emptied the line or wrote "slet").
    clears: bool = False
    # Where the proposed value came from: "label" (a Label: value line), "sentence" (a
    # suggestion) or "quoted_form" (typed into the quoted reminder), with that text.
    source: str = "label"
    source_text: str | None = None
    # The chosen keys (status, participants, regions) or names (municipalities) for the
    # edit form's menus and check boxes.
    edit_keys: tuple[str, ...] = ()


@dataclass
class MailView:
    subject: str
    from_addr: str | None
    text_body: str
    html_body: str | None
    attachments: list[dict[str, Any]]
    received_at: Any
    state: str
    reading: Reading | None = None


@dataclass(frozen=True)
class Reading:
    """How the parser read a mail, for the people who check it: what kind of mail, which
    signals it found (a reply token, a thread), the fields with where each came from, the
    problems it would tell the sender about, and the bounce report."""

    kind: str
    language: str
    token_found: bool
    in_thread: bool
    confirmed_unchanged: bool
    # (label, value, source): source is "label", "sentence" or "quoted_form".
    fields: list[tuple[str, str, str]]
    problems: list[tuple[str, str]]  # (field label, message to the sender)
    bounce: dict[str, Any] | None
    reply_text: str


@dataclass
class ItemView:
    sub: Submission
    initiative: Initiative | None
    rows: list[FieldRow]
    sender_matches_contact: bool | None
    auth: dict[str, str]
    mail: MailView | None
    versions: list[VersionLine]  # newest first
    duplicates: list[dict[str, Any]]
    stale: bool
    titles: dict[int, str] = field(default_factory=dict)
    lang: str = "da"
    # Proposed words no term covers yet: (vocabulary, word), and the terms to map them to.
    new_words: list[tuple[str, str]] = field(default_factory=list)
    terms: dict[str, list[Any]] = field(default_factory=dict)
    # What the entry lacks now (field labels).
    entry_missing: list[str] = field(default_factory=list)
    # The entry's links the link checker found dead (bot.links): field label, URL, answer.
    dead_links: list[dict[str, Any]] = field(default_factory=list)
    # The entry's attached evaluation report (bot.registry.evaluation_reports), if any.
    evaluation_report: ReportInfo | None = None

    @property
    def problem_rows(self) -> list[tuple[str, str]]:
        """(field label, message) of the problems intake found."""
        from bot.registry.record import LABELS

        out = []
        for p in self.sub.problems or []:
            key = str(p.get("field", "")) if isinstance(p, dict) else ""
            label = form_label(key, self.lang) if key in LABELS else key
            out.append((label, str(p.get("message", "")) if isinstance(p, dict) else str(p)))
        return out

    @property
    def changed_rows(self) -> list[FieldRow]:
        return [r for r in self.rows if r.changed]

    @property
    def unchanged_rows(self) -> list[FieldRow]:
        return [r for r in self.rows if not r.changed]

    @property
    def title(self) -> str:
        return str(self.sub.proposed.get("title") or (self.initiative.title
                                                        if self.initiative else "") or "")


_AUTH_RE = re.compile(r"\b(spf|dkim|dmarc)=(\w+)", re.IGNORECASE)


def auth_summary(auth_results: str | None) -> dict[str, str]:
    """{"spf": "pass", "dkim": "fail", …} from an Authentication-Results header."""
    out: dict[str, str] = {}
    for method, result in _AUTH_RE.findall(auth_results or ""):
        out.setdefault(method.lower(), result.lower())
    return out


# Fields edited with a menu or check boxes rather than free text (the form posts keys;
# :func:`edit_form_values` turns them back into text for the one field parser). The two
# vocabularies are check boxes of their terms plus a box for words no term covers yet.
CHOICE_FIELDS = (*CHOICES, "municipalities", "patient_groups", "technology")
TERM_FIELDS = ("patient_groups", "technology")
# Fixed vocabularies with one value (a menu) rather than several (check boxes).
SINGLE_CHOICE_FIELDS = tuple(k for k in CHOICES if not FIELD[k].is_list)


def _chosen(key: str, value: Any) -> tuple[str, ...]:
    if key not in CHOICE_FIELDS or value in (None, "", []):
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class EditChoices:
    """What the edit form offers, labelled in the moderator's language."""

    single: dict[str, list[tuple[str, str]]]   # a menu per field (status, evaluation)
    multi: dict[str, list[tuple[str, str]]]    # check boxes per field (participants, …)
    municipalities: list[tuple[str, str, list[str]]]  # (region key, region label, names)


def edit_choices(lang: str) -> EditChoices:
    from bot.registry.vocabulary import MUNICIPALITIES_BY_REGION, REGIONS, label_of

    options = {k: [(t.key, t.label(lang)) for t in terms] for k, terms in CHOICES.items()}
    return EditChoices(
        single={k: v for k, v in options.items() if k in SINGLE_CHOICE_FIELDS},
        multi={k: v for k, v in options.items() if k not in SINGLE_CHOICE_FIELDS},
        municipalities=[(t.key, label_of(REGIONS, t.key, lang),
                         sorted(MUNICIPALITIES_BY_REGION[t.key])) for t in REGIONS])


def edit_form_values(form: Any, lang: str) -> dict[str, str]:
    """The edit form as text per field, as :func:`parse_edits` reads it: free-text
    fields as typed; a menu or a group of check boxes (several values under one name,
    plus an empty marker so "none ticked" clears the field) written the way a person
    would type the chosen values, so they pass through the same field parser as mail."""
    values: dict[str, str] = {}
    for key in FIELD_KEYS:
        if key not in form:
            continue
        if key in CHOICE_FIELDS:
            chosen = [str(v) for v in form.getall(key) if str(v).strip()]
            if key in TERM_FIELDS:  # ticked terms, and new words typed beside them
                chosen = [item for value in chosen for item in split_list(value)]
                chosen += split_list(str(form.get(f"{key}_other") or ""))
            value: Any = chosen[0] if key in SINGLE_CHOICE_FIELDS and chosen else chosen
            values[key] = format_value(key, value, lang) if chosen else ""
        else:
            values[key] = str(form.get(key) or "")
    return values


def field_rows(sub: Submission, current: dict[str, Any] | None,
               lang: str = "da") -> list[FieldRow]:
    """Current vs proposed, field by field, in contract order."""
    proposed = sub.proposed or {}
    changed = diff_record(current or {}, proposed) if current is not None else {
        k: v for k, v in proposed.items() if v not in (None, "", [])}
    sources = sub.field_sources or {}
    rows = []
    for key in FIELD_KEYS:
        cur = (current or {}).get(key)
        prop = proposed.get(key, cur)
        clears = key in changed and prop in (None, "", []) and cur not in (None, "", [])
        rows.append(FieldRow(key=key, label=form_label(key, lang),
                             current=format_value(key, cur, lang) if current is not None else "",
                             proposed=format_value(key, prop, lang),
                             in_proposal=key in proposed, changed=key in changed,
                             edit_value=format_value(key, prop, lang), clears=clears,
                             source=str((sources.get(key) or {}).get("via") or "label"),
                             source_text=(sources.get(key) or {}).get("text"),
                             edit_keys=_chosen(key, prop)))
    return rows


def parse_edits(form: dict[str, str], effective: dict[str, Any],
                lang: str = "da") -> tuple[dict[str, Any], dict[str, str]]:
    """Read the edit form: each field through :func:`bot.registry.fields.normalise`.

    Returns (edits, errors): edits are the fields whose value differs from ``effective``
    (the proposal over the current entry); errors map a field to its message.
    """
    edits: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in FIELD_KEYS:
        if key not in form:
            continue
        raw = form[key].strip()
        old = effective.get(key)
        if not raw:
            value: Any = [] if key in LIST_FIELDS else None
        else:
            result = normalise(key, raw, lang)
            if result.problem is not None:
                errors[key] = _problem_text(result.problem)
                continue
            if result.value is None:  # "unchanged"
                continue
            value = result.value
        same = (sorted(old or []) == sorted(value or [])) if key in LIST_FIELDS \
            else (old or None) == (value or None)
        if not same:
            edits[key] = value
    return edits, errors


def _problem_text(problem: Problem) -> str:
    """The problem once, with its suggestion only when the message does not already
    name it ("Mente du Thisted?", never "Mente du Thisted? (Thisted?)")."""
    if problem.suggestion and problem.suggestion not in problem.message:
        return f"{problem.message} ({problem.suggestion}?)"
    return problem.message


def mail_view(msg: InboundMessage, own_domain: str = "example.org",
              lang: str = "da") -> MailView:
    """The mail as the item page shows it, with how the parser read it (labels in
    ``lang``). CPU work on hostile bytes: callers on the event loop run it in a thread
    (``asyncio.to_thread``), as the processor does."""
    from intake.parse.message import parse_message

    parsed = parse_message(msg.raw, own_domain=own_domain)
    html = sanitise_html(parsed.html_body) if parsed.html_body else None

    def source(key: str) -> str:
        return ("sentence" if key in parsed.inferred
                else "quoted_form" if key in parsed.inline else "label")
    reading = Reading(
        kind=parsed.kind, language=parsed.language, token_found=bool(parsed.reply_token),
        in_thread=bool(parsed.in_reply_to or parsed.references),
        confirmed_unchanged=parsed.confirmed_unchanged,
        fields=[(form_label(k, lang), format_value(k, parsed.fields[k], lang), source(k))
                for k in FIELD_KEYS if k in parsed.fields],
        problems=[(form_label(p.field, lang) if p.field in FIELD_KEYS else "", p.message)
                  for p in parsed.problems],
        bounce=parsed.bounce.as_dict() if parsed.bounce else None,
        reply_text=parsed.reply_text if parsed.kind == "reply" else "")
    return MailView(subject=parsed.subject or msg.subject or "",
                    from_addr=parsed.from_addr or msg.from_addr, text_body=parsed.text_body,
                    html_body=html, attachments=list(parsed.files),
                    received_at=msg.received_at, state=msg.state, reading=reading)


async def attachment_of(db: Database, submission_id: int, index: int
                        ) -> tuple[str, bytes] | None:
    """(file name, bytes) of the ``index``-th file attached to the item's mail, or None.
    Decoded in a thread, after the read (the bytes are a stranger's)."""
    async with db.read() as session:
        sub = await session.get(Submission, submission_id)
        if sub is None or sub.inbound_message_id is None:
            return None
        raw = await session.scalar(select(InboundMessage.raw).where(
            InboundMessage.id == sub.inbound_message_id))
    if raw is None:
        return None
    found = await asyncio.to_thread(file_payload, bytes(raw), index)
    if found is None:
        return None
    attachment, data = found
    return attachment.name or f"vedhaeftning-{index + 1}", data


async def effective_record(db: Database, submission_id: int) -> dict[str, Any] | None:
    """The proposal over the entry's current values, as the edit form showed them: all an
    approval with edits needs (one short read, none of the item page's history, duplicate
    scan or mail parsing). None when there is no such item."""
    async with db.read() as session:
        sub = await session.get(Submission, submission_id)
        if sub is None:
            return None
        initiative = (await session.get(Initiative, sub.initiative_id)
                      if sub.initiative_id else None)
        return {**(initiative.record() if initiative else {}), **(sub.proposed or {})}


async def load_item(db: Database, submission_id: int, *, lang: str = "da",
                    own_domain: str = "example.org",
                    link_failures: int = 3) -> ItemView | None:
    """Gather the item page's data (one read transaction)."""
    async with db.read() as session:
        sub = await session.get(Submission, submission_id)
        if sub is None:
            return None
        initiative = (await session.get(Initiative, sub.initiative_id)
                      if sub.initiative_id else None)
        current = initiative.record() if initiative else None
        rows = field_rows(sub, current, lang)
        sender_matches = None
        if initiative is not None and initiative.contact and sub.sender_email:
            sender_matches = (initiative.contact.email or "").casefold() == \
                sub.sender_email.casefold()
        versions = await entry_history(session, initiative.id, lang) if initiative else []
        probe = {**(current or {}), **(sub.proposed or {})}
        fresh = await find_duplicates(session, probe,
                                      exclude_initiative_id=sub.initiative_id, limit=5)
        duplicates = merge_candidates(sub.duplicate_candidates or [], fresh,
                                      exclude=sub.initiative_id)
        ids = [d["initiative_id"] for d in duplicates]
        titles: dict[int, str] = {}
        if ids:
            for i, t in await session.execute(select(Initiative.id, Initiative.title)
                                              .where(Initiative.id.in_(ids))):
                titles[i] = t
        inbound = (await session.get(InboundMessage, sub.inbound_message_id)
                   if sub.inbound_message_id is not None else None)
        dead = (await dead_links_in(session, [initiative.id], failures_to_flag=link_failures)
                ).get(initiative.id, []) if initiative is not None else []
        report = (await report_info(session, initiative.id)
                  if initiative is not None else None)
        index = await term_index(session)
        new_words = [(vocabulary, word) for vocabulary in VOCABULARIES
                     for word in index.unknown(vocabulary,
                                               (sub.proposed or {}).get(vocabulary) or [])]
    # Parsed after the read transaction: a big hostile mail must not hold a pooled
    # connection (PostgreSQL) while a thread works on it.
    mail = await asyncio.to_thread(mail_view, inbound, own_domain) if inbound else None
    stale = bool(initiative and sub.base_version is not None
                 and initiative.version != sub.base_version)
    return ItemView(sub=sub, initiative=initiative, rows=rows,
                    sender_matches_contact=sender_matches, auth=auth_summary(sub.auth_results),
                    mail=mail, versions=versions, duplicates=duplicates, stale=stale,
                    titles=titles, lang=lang, new_words=new_words,
                    entry_missing=[form_label(k, lang) for k in missing_mandatory(current)]
                    if current is not None else [],
                    dead_links=[{**link_for_mail(c), "label": form_label(c.field, lang)}
                                for c in dead],
                    terms={v: index.of(v) for v in VOCABULARIES},
                    evaluation_report=report)


async def entry_history(session: AsyncSession, initiative_id: int,
                        lang: str) -> list[VersionLine]:
    """An entry's versions as sentences with old → new values, newest first; an
    approved change names who proposed it as well as the moderator."""
    versions = await history(session, initiative_id)
    ids = {v.submission_id for v in versions if v.submission_id}
    proposers: dict[int, tuple[str, str]] = {}
    if ids:
        for sid, name, email, channel in await session.execute(
                select(Submission.id, Submission.sender_name, Submission.sender_email,
                       Submission.channel).where(Submission.id.in_(ids))):
            proposers[sid] = (name or email or "", channel)
    return version_lines(versions, lang, proposers=proposers)


def merge_candidates(stored: list[Any], fresh: list[dict[str, Any]],
                     exclude: int | None = None) -> list[dict[str, Any]]:
    """Stored (at intake) and fresh candidates, one per entry, best score first."""
    best: dict[int, dict[str, Any]] = {}
    for source, items in (("intake", stored), ("now", fresh)):
        for c in items:
            try:
                iid = int(c["initiative_id"])
                score = float(c.get("score") or 0)
            except (KeyError, TypeError, ValueError):
                continue
            if iid == exclude:
                continue
            prev = best.get(iid)
            if prev is None or score > prev["score"]:
                best[iid] = {"initiative_id": iid, "score": score, "source": source,
                             "title": c.get("title") or (prev or {}).get("title")}
    return sorted(best.values(), key=lambda c: (-c["score"], c["initiative_id"]))
