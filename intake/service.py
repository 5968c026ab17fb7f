"""E-mail intake under the app: the IMAP fetcher, the LMTP listener and the processor.

``setup(app)`` appends the workers the settings ask for to ``app[WORKERS]``: the
processor always (it also handles mail stored by the demo or the CLI), the IMAP fetcher
when ``imap_enabled``, the LMTP listener when ``lmtp_enabled``. Ingress wakes the
processor after each commit, so a new mail is handled at once rather than at the next
poll.
"""
from __future__ import annotations

from aiohttp import web

from bot.core.appkeys import DB, EXTRA, SETTINGS, WORKERS
from intake.mail.imap_fetch import ImapFetcher
from intake.mail.lmtp import LmtpListener
from intake.mail.processor import Processor
from intake.retention import RetentionWorker


def setup(app: web.Application) -> None:
    """Add this component's workers to the app."""
    settings = app[SETTINGS]
    db = app[DB]
    processor = Processor(settings, db, lease_seconds=settings.processing_lease_seconds)
    workers: list[object] = []
    if settings.imap_enabled:
        workers.append(ImapFetcher(settings, db, on_stored=processor.wake,
                                   lease_ttl=settings.imap_lease_seconds))
    if settings.lmtp_enabled:
        workers.append(LmtpListener(settings, db, on_stored=processor.wake))
    workers.append(processor)
    if settings.retention_days > 0:
        workers.append(RetentionWorker(settings, db))
    app[WORKERS].extend(workers)  # type: ignore[arg-type]
    app[EXTRA]["intake_processor"] = processor
