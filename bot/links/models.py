"""The link checker's table: the last check of each link of each entry."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base


class LinkCheck(Base):
    """The state of one link (an entry's website or evaluation link) as last checked.

    ``failures`` counts the checks in a row that found it dead; a new URL starts afresh.
    """

    __tablename__ = "link_checks"

    initiative_id: Mapped[int] = mapped_column(ForeignKey("initiatives.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | broken | error
    status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    redirects: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(300))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime)

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "url": self.url, "outcome": self.outcome,
                "status": self.status, "final_url": self.final_url,
                "redirects": list(self.redirects or []), "error": self.error,
                "failures": self.failures}


__all__ = ["LinkCheck"]
