"""The demo's own table: the mail sandbox, where every mail the demo sends is kept.

Migration 0003 creates it (with the outbox's indexes), though only the demo writes to it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, dbnow
from bot.mail.models import CampaignStep, OutboxMessage


class SandboxMail(Base):
    """A mail the demo's embedded SMTP server received (everything the service sends in
    ``landkort demo`` ends up here instead of in a real mailbox)."""

    __tablename__ = "sandbox_mails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    mail_from: Mapped[str] = mapped_column(String(320))
    # Envelope recipients, comma-separated.
    rcpt_to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    # X-Landkort-Kind of the mail (reminder, receipt, digest …), empty when absent.
    kind: Mapped[str] = mapped_column(String(32), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, index=True)


# Indexes on core tables that the sender and the planner need (created by migration 0003;
# declared here so the metadata matches the migrated schema).
Index("ix_outbox_lease", OutboxMessage.state, OutboxMessage.lease_until)
Index("ix_campaign_steps_outbox_id", CampaignStep.outbox_id)
Index("ix_campaign_steps_created_at", CampaignStep.step, CampaignStep.created_at)

__all__ = ["SandboxMail"]
