"""Typed keys for what the aiohttp application holds."""
from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.workers import Worker

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
WORKERS = web.AppKey("workers", list[Worker])
PAGES = web.AppKey("pages", jinja2.Environment)
EXTRA = web.AppKey("extra", dict[str, Any])
