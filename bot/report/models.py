"""The frozen copies of the yearly report: one row per year, never rewritten."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, dbnow


class FrozenReport(Base):
    """A year's report as it was published: its figures (the dict of
    :func:`bot.report.figures.yearly_report`), so later changes to entries, terms or
    campaigns never change what was published."""

    __tablename__ = "frozen_reports"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    frozen_by: Mapped[str] = mapped_column(String(200))
    frozen_at: Mapped[datetime] = mapped_column(DateTime, default=dbnow)


__all__ = ["FrozenReport"]
