"""The chat's own table: conversations kept server-side, so a reload or a reconnect
resumes where the person was.

The browser holds a random 192-bit key in an HttpOnly cookie; the row's ``id`` is its
SHA-256, so a leaked database hands out no live conversations. The person's IP address is
stored only as a keyed hash (for the per-IP limit on new conversations).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, dbnow


class ChatConversation(Base):
    """One chat conversation: the pure machine's state, the transcript shown on resume,
    and the counters behind the chat's limits."""

    __tablename__ = "chat_conversations"
    __table_args__ = (Index("ix_chat_conversations_ip", "ip_hash", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # intake.chat.conversation.ChatState.to_json()
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{"from": "user", "text": …} | {"from": "bot", "reply": Reply.as_dict()}]
    transcript: Mapped[list[Any]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(2), default="da")
    ip_hash: Mapped[str] = mapped_column(String(64))
    # Set when the conversation was opened with a reminder's or receipt's personal link:
    # the token is the contact's credential for this entry.
    token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    initiative_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)
    # Fixed one-minute window for chat_messages_per_minute.
    window_start: Mapped[datetime | None] = mapped_column(DateTime)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow, onupdate=dbnow)


__all__ = ["ChatConversation"]
