"""Imports every model module so Base.metadata knows every table (Alembic, tests)."""
from __future__ import annotations

import bot.mail_models  # noqa: F401
import bot.models  # noqa: F401
import intake.chat_models  # noqa: F401
import intake.models  # noqa: F401
import moderation.models  # noqa: F401
import moderation.web_models  # noqa: F401
from bot.db import Base

metadata = Base.metadata
