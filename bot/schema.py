"""Every table of the service in one ``MetaData``: Alembic, ``Database`` and the tests use it.

Each domain owns its tables (``models`` modules, and the lease table next to its code);
this module, at the top of the import graph, is the one place that imports them all, so
foreign keys between domains resolve whichever part of the service runs.
"""
from __future__ import annotations

import bot.core.leases  # noqa: F401
import bot.demo.models  # noqa: F401
import bot.links.models  # noqa: F401
import bot.mail.models  # noqa: F401
import bot.registry.models  # noqa: F401
import bot.report.models  # noqa: F401
import intake.chat.models  # noqa: F401
import intake.inbox.models  # noqa: F401
import moderation.models  # noqa: F401
from bot.core.db import Base

metadata = Base.metadata
