"""How log lines look: text for people, JSON for log collectors.

``log_format = "json"`` writes one JSON object per line (``time``, ``level``, ``logger``,
``message``, and ``exception`` when there is one), which journald, Loki or Elastic take
without a parsing rule. The access log's lines are
:class:`bot.observability.RouteAccessLogger`'s.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def apply_format(log_format: str) -> None:
    """Give the root logger's handlers the chosen format (after ``basicConfig``)."""
    formatter: logging.Formatter = (JsonFormatter() if log_format == "json"
                                    else logging.Formatter(TEXT_FORMAT))
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


__all__ = ["JsonFormatter", "TEXT_FORMAT", "apply_format"]
