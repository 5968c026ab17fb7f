"""The audit log and an entry's history as sentences in the reader's language.

"anna godkendte sag S-3" rather than ``submission.approved``; "Maja Sørensen foreslog via
mail: Status fra Afsluttet til I drift; godkendt af demo" rather than a list of field
keys. Pure functions over rows already read: the pages and the CSV export call them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.i18n import gettext
from bot.registry.fields import form_label, format_value
from bot.registry.record import FIELD_KEYS
from moderation.models import AuditEvent

# Detail keys a sentence already says (left out of the phrases after it).
_IN_SENTENCE = {
    "initiative.merged": {"source"},
    "initiative.not_duplicate": {"other"},
    "contact.mail_reset": {"to", "contact_id"},
    "contact.bouncing": {"contact_id"},
    "contact.opted_out": {"contact_id", "inbound_message_id"},
    "contact.consent": {"contact_id", "given"},
    "inbound.replayed": {"inbound_message_id"},
    "mail.retried": {"outbox_id", "to"},
    "mail.discarded": {"outbox_id", "to"},
    "mail.test_queued": {"outbox_id", "to"},
    "user.added": {"username", "role"},
    "user.password_changed": {"username"},
    "user.disabled": {"username"},
    "user.enabled": {"username"},
    "submission.created": {"kind", "channel"},
    "vocabulary.term_added": {"vocabulary", "term", "words"},
    "vocabulary.term_renamed": {"vocabulary", "term", "before", "before_en"},
    "vocabulary.word_added": {"vocabulary", "term", "word"},
    "vocabulary.terms_merged": {"vocabulary", "term", "merged"},
    "report.freeze": {"year"},
}


def event_sentence(event: AuditEvent, lang: str, *,
                   describe: Any = None) -> tuple[str, list[str], dict[str, Any]]:
    """(sentence, detail phrases, detail the phrases do not cover) for one audit row.

    ``describe`` turns the remaining detail into phrases (the audit page passes
    :func:`moderation.web.lists.describe_detail`)."""
    _ = gettext(lang)
    detail: Mapping[str, Any] = event.detail or {}
    params: dict[str, Any] = {
        "actor": event.actor,
        "case": _("ref.case_long", id=event.submission_id) if event.submission_id else "",
        "entry": _("ref.entry", id=event.initiative_id) if event.initiative_id else "",
        "source": _("ref.entry", id=detail.get("source")) if detail.get("source") else "",
        "other": _("ref.entry", id=detail.get("other")) if detail.get("other") else "",
        "address": detail.get("to") or "",
        "contact": detail.get("contact_id") or "",
        "id": detail.get("outbox_id") or detail.get("inbound_message_id") or "",
        "username": detail.get("username") or "",
        "role": _(f"role.{detail.get('role')}") if detail.get("role") else "",
        "kind": _(f"kind.{detail.get('kind')}") if detail.get("kind") else "",
        "channel": _(f"channel.{detail.get('channel')}") if detail.get("channel") else "",
        "given": _("audit.given.yes") if detail.get("given") else _("audit.given.no"),
        "term": detail.get("term") or "", "before": detail.get("before") or "",
        "word": detail.get("word") or "", "merged": detail.get("merged") or "",
        "year": detail.get("year") or "",
    }
    key = f"audit.says.{event.action}"
    sentence = _(key, **params)
    if sentence == key:  # an action without a sentence yet: its name, then its details
        named = _(f"audit.{event.action}")
        sentence = f"{event.actor}: {event.action if named == f'audit.{event.action}' else named}"
    rest_detail = {k: v for k, v in detail.items()
                   if k not in _IN_SENTENCE.get(event.action, set())}
    if describe is None:
        return sentence, [], rest_detail
    phrases, rest = describe(rest_detail)
    return sentence, phrases, rest


def event_text(event: AuditEvent, lang: str, describe: Any) -> str:
    """The whole event as one line of text (the CSV export)."""
    sentence, phrases, rest = event_sentence(event, lang, describe=describe)
    tail = "; ".join([*phrases, *(f"{k}: {v}" for k, v in rest.items())])
    return f"{sentence}. {tail}" if tail else f"{sentence}."


@dataclass(frozen=True)
class Change:
    """One field of one version: its label and the value before and after."""

    label: str
    old: str
    new: str


@dataclass(frozen=True)
class VersionLine:
    """One version of an entry as the history shows it."""

    version: int
    created_at: Any
    sentence: str
    changes: list[Change]
    note: str | None


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], keys: Sequence[str],
             lang: str) -> list[Change]:
    out = []
    for key in FIELD_KEYS:
        if key not in keys:
            continue
        old = format_value(key, before.get(key), lang) or "—"
        new = format_value(key, after.get(key), lang) or "—"
        if old != new:
            out.append(Change(form_label(key, lang), old, new))
    return out


def version_lines(versions: Sequence[Any], lang: str, *,
                  proposers: Mapping[int, tuple[str, str]] | None = None) -> list[VersionLine]:
    """Every version of an entry, newest first, as a sentence and its changed fields
    (old → new, in the reader's language). ``proposers`` maps a submission id to (who
    proposed it, channel) so an approved change names both the sender and the
    moderator."""
    _ = gettext(lang)
    proposers = proposers or {}
    lines: list[VersionLine] = []
    previous: Mapping[str, Any] = {}
    for ver in versions:
        data = ver.data or {}
        channel = _(f"channel.{ver.channel}")
        if ver.version == 1 or not previous:
            sentence = _("hist.created", actor=ver.actor, channel=channel)
            changes: list[Change] = []
        else:
            changes = _changes(previous, data, ver.changed or list(FIELD_KEYS), lang)
            proposer = proposers.get(ver.submission_id) if ver.submission_id else None
            if proposer and proposer[0] and proposer[0] != ver.actor:
                sentence = _("hist.proposed", who=proposer[0],
                             channel=_(f"channel.{proposer[1]}"), actor=ver.actor)
            else:
                sentence = _("hist.changed", actor=ver.actor, channel=channel)
            if not changes:
                sentence = _("hist.unchanged", sentence=sentence)
        lines.append(VersionLine(ver.version, ver.created_at, sentence, changes, ver.note))
        previous = data
    return list(reversed(lines))


__all__ = ["Change", "VersionLine", "event_sentence", "event_text", "version_lines"]
