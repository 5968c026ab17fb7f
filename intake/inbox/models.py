"""Intake tables: raw inbound mail (stored before anything acts on it), IMAP cursors,
bounce records and the per-address limit on automatic answers."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, dbnow

# stored: waiting for processing | done | quarantined (poison, too large, failed N times)
INBOUND_STATES = ("stored", "done", "quarantined")


class InboundMessage(Base):
    """One received mail, raw bytes first. The idempotency keys are (mailbox, UIDVALIDITY,
    UID) for IMAP and the content hash for every source."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid"),
        Index("ix_inbound_messages_work", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # imap | lmtp | sandbox | cli
    mailbox: Mapped[str | None] = mapped_column(String(200))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(1000))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    state: Mapped[str] = mapped_column(String(16), default="stored")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    # auto_reply | bounce | unsubscribe | reply | submission | unknown
    kind: Mapped[str | None] = mapped_column(String(16))
    # submission | bounce | auto_reply | opt_out | own_mail | quarantined | …
    outcome: Mapped[str | None] = mapped_column(String(32))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # What processing found and did, for moderators: {"submission_id": …, "problems": […],
    # "answer": "receipt" | "problems" | "suppressed:<reason>", "token_purpose": …}
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ImapCursor(Base):
    """Where the fetcher is in a mailbox: (UIDVALIDITY, last UID stored)."""

    __tablename__ = "imap_cursors"

    mailbox: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)


class AutoAnswerCount(Base):
    """How many automatic answers an address got on a day (the per-day limit)."""

    __tablename__ = "auto_answer_counts"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    count: Mapped[int] = mapped_column(Integer, default=0)


__all__ = ["AutoAnswerCount", "ImapCursor", "InboundMessage"]
