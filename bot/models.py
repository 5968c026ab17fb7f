"""Registry tables (contacts, initiatives, immutable versions) and the service's own
bookkeeping (leases, outbox, reply tokens, campaign steps).

Times are naive UTC (see :mod:`bot.db`). List-valued registry fields are JSON lists of
vocabulary keys or text, sorted, exactly as :mod:`intake.fields` produces them.
"""
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base, dbnow

# The registry fields in contract order; contact_* live on Contact but are part of an
# initiative's public record and of every version snapshot.
INITIATIVE_FIELDS: tuple[str, ...] = (
    "title", "description", "status", "participants", "regions", "municipalities",
    "organisation", "patient_groups", "technology", "start_date", "end_date",
    "evaluation_url", "website",
)
CONTACT_FIELDS: tuple[str, ...] = ("contact_name", "contact_email", "contact_phone")
RECORD_FIELDS: tuple[str, ...] = INITIATIVE_FIELDS + CONTACT_FIELDS
LIST_DEFAULTS: frozenset[str] = frozenset(
    {"participants", "regions", "municipalities", "patient_groups", "technology"})


class Contact(Base):
    """A person who answers for one or more initiatives."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(2), default="da")
    # ok | bouncing | opted_out
    email_status: Mapped[str] = mapped_column(String(16), default="ok")
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime | None] = mapped_column(DateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Consent to show name, e-mail and phone publicly: None never asked, True/False the
    # contact's answer; source: link (the contact's own button) | moderator.
    publish_consent: Mapped[bool | None] = mapped_column(Boolean)
    publish_consent_at: Mapped[datetime | None] = mapped_column(DateTime)
    publish_consent_source: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)

    initiatives: Mapped[list[Initiative]] = relationship(back_populates="contact")

    @property
    def is_public(self) -> bool:
        """Whether the contact's details may be published: only with consent, and never
        for an address that opted out or bounces (the one publication rule)."""
        return self.publish_consent is True and self.email_status == "ok"


class Initiative(Base):
    """One entry of the registry. Every change goes through a version row."""

    __tablename__ = "initiatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(160), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    municipalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    organisation: Mapped[str | None] = mapped_column(String(300))
    patient_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    technology: Mapped[list[str]] = mapped_column(JSON, default=list)
    start_date: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD or YYYY-MM
    end_date: Mapped[str | None] = mapped_column(String(10))
    evaluation_url: Mapped[str | None] = mapped_column(String(500))
    website: Mapped[str | None] = mapped_column(String(500))
    # Derived from participants (bot.vocabulary.sector_of); stored for filters and stats.
    sector: Mapped[str | None] = mapped_column(String(32), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    last_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    # The campaign ended without an answer.
    unconfirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The contact opted out or bounces: the moderators must find a new one.
    needs_new_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # A duplicate merged into another entry is kept (history) but no longer published.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)

    contact: Mapped[Contact | None] = relationship(back_populates="initiatives", lazy="selectin")

    def public_record(self) -> dict[str, Any]:
        """:meth:`record` as the public may see it: the contact's details only when the
        contact consented and the address works (opted out or bouncing: never)."""
        data = self.record()
        if not (self.contact is not None and self.contact.is_public):
            for key in ("contact_name", "contact_email", "contact_phone"):
                data[key] = None
        return data

    def record(self) -> dict[str, Any]:
        """The entry's field values under the contract's canonical keys (internal: the
        public gets :meth:`public_record`)."""
        data: dict[str, Any] = {f: getattr(self, f) for f in INITIATIVE_FIELDS}
        c = self.contact
        data["contact_name"] = c.name if c else None
        data["contact_email"] = c.email if c else None
        data["contact_phone"] = c.phone if c else None
        return data


class InitiativeVersion(Base):
    """An immutable snapshot written for every change to an initiative."""

    __tablename__ = "initiative_versions"
    __table_args__ = (UniqueConstraint("initiative_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed: Mapped[list[str]] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(200))
    # email | chat | web | import | demo | system
    channel: Mapped[str] = mapped_column(String(16))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


class Lease(Base):
    """A named, expiring claim: one IMAP fetcher per mailbox, one digest per day…"""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxMessage(Base):
    """A mail to send, written in the same transaction as the decision that causes it.

    ``raw`` holds the complete RFC 5322 message with its Message-ID fixed before any SMTP
    conversation, so a resend after a crash carries the same Message-ID.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),
                      Index("ix_outbox_unredacted", "raw_redacted", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # reminder | receipt | problems | rejection | needs_info | digest | verification | …
    kind: Mapped[str] = mapped_column(String(32))
    to_addr: Mapped[str] = mapped_column(String(320), index=True)
    from_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # True once a finished mail's live tokens are gone from ``raw`` (bot.outbox).
    raw_redacted: Mapped[bool] = mapped_column(Boolean, default=False,
                                               server_default=false())
    # pending | sending | sent | failed | cancelled
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class ReplyToken(Base):
    """A per-mail reply token. Only its SHA-256 is stored (see bot.tokens)."""

    __tablename__ = "reply_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # reminder | receipt | problems | needs_info | chat_verify | unsubscribe
    purpose: Mapped[str] = mapped_column(String(32))
    initiative_id: Mapped[int | None] = mapped_column(ForeignKey("initiatives.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    outbox_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class CampaignStep(Base):
    """One reminder step for one entry in one yearly cycle: the idempotency key of
    campaigns is (initiative, cycle, step), unique, so no step is ever planned twice."""

    __tablename__ = "campaign_steps"
    __table_args__ = (UniqueConstraint("initiative_id", "cycle", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), index=True)
    cycle: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # planned | sent | skipped | answered
    state: Mapped[str] = mapped_column(String(16), default="planned")
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


__all__ = [
    "CONTACT_FIELDS", "CampaignStep", "Contact", "INITIATIVE_FIELDS",
    "Initiative", "InitiativeVersion", "LIST_DEFAULTS", "Lease", "OutboxMessage", "RECORD_FIELDS",
    "ReplyToken",
]
