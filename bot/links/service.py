"""The link checker in the running service (on when ``link_check_enabled``)."""
from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web

from bot.core.appkeys import DB, EXTRA, SETTINGS, WORKERS
from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.links.checker import check_links
from bot.links.store import due_links, record_results

log = logging.getLogger(__name__)
# A batch ends after this long; links not asked by then stay due for the next one.
BATCH_DEADLINE = 600.0


class LinkCheckWorker(LoopWorker):
    """Every so often: the due links (a batch), checked outside any transaction, the
    results recorded in one. Sleeps an hour when nothing is due."""

    name = "link-checker"
    idle_seconds = 3600.0
    batch = 200

    def __init__(self, settings: Settings, db: Database) -> None:
        super().__init__()
        self.settings, self.db = settings, db

    async def run_once(self) -> int:
        s = self.settings
        due = await due_links(self.db, every=timedelta(days=s.link_check_days),
                              limit=self.batch)
        if not due:
            return 0
        results = await check_links(due, concurrency=s.link_check_concurrency,
                                    per_host_delay=s.link_check_host_delay,
                                    timeout=s.link_check_timeout,
                                    allow_private=s.link_check_allow_private,
                                    deadline=BATCH_DEADLINE)
        if not results:
            return 0
        await record_results(self.db, results)
        bad = sum(1 for r in results if not r.ok)
        log.info("link check: %d links, %d not working", len(results), bad)
        return len(results)


def setup(app: web.Application) -> None:
    """Start the link checker when the settings ask for it."""
    settings = app[SETTINGS]
    if settings.link_check_enabled:
        worker = LinkCheckWorker(settings, app[DB])
        app[WORKERS].append(worker)
        app[EXTRA]["link_checker"] = worker


__all__ = ["LinkCheckWorker", "setup"]
