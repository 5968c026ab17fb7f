"""``landkort demo``: the whole loop on embedded defaults.

Prepares a demo database in ``var/demo`` (registry data, a moderator login, realistic
queue items) and runs the service with the mail sandbox on. Each step belongs to its
capability; this module only orders them.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from bot.core.db import Database
from bot.core.settings import Settings


def demo_settings(base: Settings) -> Settings:
    """The demo's settings: sandbox on, SMTP/IMAP pointed at it, a generated secret.

    The sender delivers to the sandbox's SMTP server, the intake fetcher reads the
    sandbox's IMAP inbox (plain IMAP on loopback, a password derived from the secret),
    and the campaign scheduler looks every few seconds with a window that is always
    open, so the first reminders appear on /sandbox within seconds of the start."""
    data_dir = Path(base.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "demo_secret_key"
    if base.secret_key:
        secret = base.secret_key
    elif secret_file.exists():
        secret = secret_file.read_text().strip()
    else:
        secret = secrets.token_urlsafe(32)
        secret_file.write_text(secret)
        secret_file.chmod(0o600)
    from bot.demo.sandbox import DEFAULT_IMAP_USER, sandbox_password

    with_secret = base.replace(secret_key=secret)
    default_base_url = Settings.__dataclass_fields__["base_url"].default
    base_url = base.base_url
    if base_url == default_base_url:
        base_url = f"http://{base.http_host}:{base.http_port}"
    return with_secret.replace(
        sandbox_enabled=True, base_url=base_url,
        smtp_enabled=True, smtp_host="127.0.0.1", smtp_port=base.sandbox_smtp_port,
        smtp_security="plain", smtp_user="", smtp_password="",
        smtp_rate_per_minute=max(base.smtp_rate_per_minute, 600),
        imap_enabled=True, imap_host="127.0.0.1", imap_port=base.sandbox_imap_port,
        imap_security="plain", imap_user=DEFAULT_IMAP_USER,
        imap_password=sandbox_password(with_secret), imap_mailbox="INBOX",
        imap_poll_seconds=min(base.imap_poll_seconds, 5.0),
        campaign_enabled=True, campaign_tick_seconds=5.0,
        sending_days="mon,tue,wed,thu,fri,sat,sun", sending_window="00:00-23:59",
        moderator_emails=base.moderator_emails or "redaktion@example.org")


async def seed(settings: Settings, db: Database) -> list[str]:
    """Load the demo data into an empty database; returns lines to print."""
    from bot.demo.data import seed_address_book, seed_registry

    lines: list[str] = []
    count = await seed_registry(db)
    lines.append(f"registry: {count} initiatives loaded" if count
                 else "registry: already has data, left as it is")
    organisations = await seed_address_book(db)
    if organisations:
        lines.append(f"address book: {organisations} organisations for outreach")
    try:
        from moderation.accounts import ensure_demo_moderator
    except ImportError:
        pass
    else:
        username, password = await ensure_demo_moderator(db)
        if password:
            lines.append(f"moderator login: {username} / {password}")
    try:
        from bot.demo.mail import seed_queue
    except ImportError:
        pass
    else:
        n = await seed_queue(settings, db)
        if n:
            lines.append(f"queue: {n} demo mails received and queued")
    return lines
