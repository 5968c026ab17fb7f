"""Tables of outgoing mail: the outbox, reply tokens, campaign steps and the bounce log.

Times are naive UTC (see :mod:`bot.core.db`).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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

from bot.core.db import Base, dbnow


class OutboxBody(Base):
    """The complete RFC 5322 message of an outbox row, with its Message-ID fixed before
    any SMTP conversation, so a resend after a crash carries the same Message-ID.

    In a table of its own: the sender updates an outbox row twice per mail (claimed,
    sent), and SQLite rewrites a whole row on every UPDATE — with the mail's bytes in it,
    that was several overflow pages to the WAL per update (#18). Written once, read by
    the sender at its claim, rewritten once by the redaction of finished mail.
    """

    __tablename__ = "outbox_bodies"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"),
                                           primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxMessage(Base):
    """A mail to send, written in the same transaction as the decision that causes it.

    ``raw`` (the mail's bytes) lives in :class:`OutboxBody`, loaded with the row; setting
    it on a new row writes both.
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
    body: Mapped[OutboxBody | None] = relationship(
        OutboxBody, lazy="joined", cascade="all, delete-orphan", passive_deletes=True)
    # True once a finished mail's live tokens are gone from ``raw`` (bot.mail.outbox).
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

    @property
    def raw(self) -> bytes:
        """The mail as it is sent (or, once finished, as it is kept: tokens removed)."""
        return self.body.raw if self.body is not None else b""

    @raw.setter
    def raw(self, value: bytes) -> None:
        if self.body is None:
            self.body = OutboxBody(raw=value)
        else:
            self.body.raw = value


class ReplyToken(Base):
    """A per-mail reply token. Only its SHA-256 is stored (see bot.mail.tokens)."""

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


# The last step of a cycle: no mail, the entry is marked unconfirmed (1–3 are reminders).
CLOSE_STEP = 4


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


class BounceEvent(Base):
    """A delivery failure reported for one of our mails (RFC 3464 DSN or the like)."""

    __tablename__ = "bounce_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    status: Mapped[str | None] = mapped_column(String(16))
    permanent: Mapped[bool] = mapped_column(Boolean, default=True)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
