"""Outgoing mail in the running service: the outbox sender, the campaign scheduler,
the moderators' digest (each on when its settings say so), the unsubscribe and consent
pages (always on: links in mail sent earlier must keep working)."""
from __future__ import annotations

from aiohttp import web

from bot.campaigns.outreach import OutreachScheduler
from bot.campaigns.reminders import CampaignScheduler
from bot.core.appkeys import DB, EXTRA, SETTINGS, WORKERS
from bot.mail.sender import OutboxSender
from bot.public import answer, consent
from bot.public.unsubscribe import setup_routes
from moderation.digest import DigestWorker


def setup(app: web.Application) -> None:
    """Add the unsubscribe routes and the mail workers the settings enable."""
    settings = app[SETTINGS]
    db = app[DB]
    setup_routes(app)
    consent.setup_routes(app)
    answer.setup_routes(app)
    sender: OutboxSender | None = None
    if settings.smtp_enabled:
        sender = OutboxSender(settings, db)
        app[WORKERS].append(sender)
        app[EXTRA]["outbox_sender"] = sender
    wake = sender.wake if sender is not None else None
    if settings.campaign_enabled:
        scheduler = CampaignScheduler(settings, db, on_queued=wake)
        app[WORKERS].append(scheduler)
        app[EXTRA]["campaign_scheduler"] = scheduler
        outreach = OutreachScheduler(settings, db, on_queued=wake)
        app[WORKERS].append(outreach)
        app[EXTRA]["outreach_scheduler"] = outreach
    if settings.moderator_email_list and settings.smtp_enabled:
        digest = DigestWorker(settings, db, on_queued=wake)
        app[WORKERS].append(digest)
        app[EXTRA]["digest"] = digest
