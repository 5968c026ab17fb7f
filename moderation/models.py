"""The moderation queue: submissions, the audit trail, moderator accounts and their
web sessions and failed-login records."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, dbnow


class Submission(Base):
    """A proposed change to the registry, waiting for a moderator's decision. Its states
    and moves are in :mod:`moderation.states`; only :mod:`moderation.submissions`
    changes them."""

    __tablename__ = "submissions"
    __table_args__ = (
        # Keyset pagination of the queue: oldest first within a state.
        Index("ix_submissions_queue", "state", "created_at", "id"),
        Index("ix_submissions_queue_kind", "state", "kind", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"), index=True)
    # The initiative version the proposal was made against (None for new entries).
    base_version: Mapped[int | None] = mapped_column(Integer)
    # Proposed values under canonical keys; for updates only the fields that differ.
    proposed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"field": …, "message": …}]
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # sender_differs | likely_duplicate | problems | missing_fields
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"initiative_id": …, "score": …}] best first
    duplicate_candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Where a proposed value came from when not from a label line: field →
    # {"via": "sentence" | "quoted_form", "text": the sentence or the edited line}.
    field_sources: Mapped[dict[str, dict[str, str]]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'"))
    # ",hovedstaden,sjaelland," — regions of the proposal or its entry, for queue filters
    filter_regions: Mapped[str] = mapped_column(String(100), default="")
    sender_email: Mapped[str | None] = mapped_column(String(320))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="da")
    token_matched: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_results: Mapped[str | None] = mapped_column(Text)
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id"), index=True)
    # Makes creation idempotent: "inbound:<id>", "chat:<conversation>", "import:<hash>:<n>"
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    note: Mapped[str | None] = mapped_column(Text)  # sender's free text or moderator's note
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # The entry this submission created or changed, once decided.
    result_initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)


class AuditEvent(Base):
    """Who did what, when. Written in the same transaction as the action."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DuplicateDismissal(Base):
    """Two entries a moderator said are *not* duplicates: the pair never comes back on
    the duplicates work list. Stored with the lower id first, so (a, b) and (b, a) are
    one row."""

    __tablename__ = "duplicate_dismissals"

    low_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), primary_key=True)
    high_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class Lead(Base):
    """An initiative someone mentioned that may not be on the map (MedCom: some were
    never registered): who mentioned it, where, what could be told of it. A moderator
    invites someone to register it (a mail with a personal link to /indmeld) or
    dismisses it. open → invited → registered, or dismissed."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # inbound:<id>:<n>, form:<token hash>:<n>, chat:<id>:<n> — a retry adds nothing.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | web | chat
    text: Mapped[str] = mapped_column(Text)
    municipality: Mapped[str | None] = mapped_column(String(100))
    organisation: Mapped[str | None] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    mentioned_by: Mapped[str | None] = mapped_column(String(320))
    mentioned_by_name: Mapped[str | None] = mapped_column(String(200))
    initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    invited_to: Mapped[str | None] = mapped_column(String(320))
    # The invitation's personal link (/indmeld?lead=TOKEN): stored hashed, with an expiry.
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    registered_submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class User(Base):
    """A moderator or admin account (argon2id hash, see moderation.accounts)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="moderator")  # moderator | admin
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(2), default="da")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A logged-in moderator. The cookie holds a random 256-bit id; only its SHA-256 is
    stored, so a leaked database does not hand out live sessions."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    # The synchronizer token for the session's forms (random, per session).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    client_addr: Mapped[str | None] = mapped_column(String(64))


class LoginFailure(Base):
    """One failed login, recorded under ``user:NAME`` and ``addr:IP`` (throttling)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class Organisation(Base):
    """An entry of the administrators' address book (#19 outreach): an organisation that
    may run telemedicine initiatives — a municipality's health department, a hospital or
    region, a general-practice organisation — with the address to write to. Its mail
    address is a :class:`~bot.registry.models.Contact`, so the one opt-out and the one
    bounce rule (``Contact.email_status``) hold for outreach mail too."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    # The sector it belongs to: a participant key (kommune | sygehus | almen_praksis).
    kind: Mapped[str] = mapped_column(String(32))
    municipality: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(32), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class OutreachCampaign(Base):
    """A mailing to the organisations whose area has no or few initiatives in their
    sector (``max_initiatives``), inviting them to register theirs. draft → running →
    finished (or stopped); the recipients are chosen when it starts."""

    __tablename__ = "outreach_campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # An organisation is mailed when at most this many ongoing initiatives of its sector
    # cover its area (0: only where there are none).
    max_initiatives: Mapped[int] = mapped_column(Integer, default=0)
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    note: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_by: Mapped[str | None] = mapped_column(String(200))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime)


class OutreachRecipient(Base):
    """One organisation in one outreach campaign: how covered its area was when the
    campaign started, and whether it registered an initiative through its link."""

    __tablename__ = "outreach_recipients"
    __table_args__ = (Index("uq_outreach_recipient", "campaign_id", "organisation_id",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("outreach_campaigns.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    # The organisation's sector and region when the campaign started: its figures stay
    # as they were when a later import moves the organisation.
    kind: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    covered: Mapped[int] = mapped_column(Integer, default=0)
    # waiting | registered
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    # The newest case sent through the recipient's link (registered once verified).
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    registered_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class OutreachStep(Base):
    """One step of the outreach mailing to one recipient: the invitation (1) and its
    follow-ups (2, 3). Unique per (recipient, step), written with its outbox row (key
    ``outreach:RECIPIENT:STEP``) in one transaction, so each step goes out once."""

    __tablename__ = "outreach_steps"
    __table_args__ = (Index("uq_outreach_step", "recipient_id", "step", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("outreach_recipients.id"))
    step: Mapped[int] = mapped_column(Integer)
    # planned (mail queued) | skipped (opted out, bouncing, cannot compose)
    state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(300))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    # The mail's personal link to /indmeld (stored hashed; bot.mail.tokens).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
