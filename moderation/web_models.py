"""Tables of the moderator web UI: server-side sessions and failed-login records."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, dbnow


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


__all__ = ["LoginFailure", "WebSession"]
