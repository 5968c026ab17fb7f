"""``landkort demo``: the whole loop on embedded defaults.

Prepares a demo database in ``var/demo`` (registry data, a moderator login, realistic
queue items) and runs the service with the mail sandbox on. Each step belongs to its
capability; this module only orders them.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from bot.db import Database
from bot.settings import Settings


def demo_settings(base: Settings) -> Settings:
    """The demo's settings: sandbox on, SMTP/IMAP pointed at it, a generated secret."""
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
    return base.replace(secret_key=secret, sandbox_enabled=True)


async def seed(settings: Settings, db: Database) -> list[str]:
    """Load the demo data into an empty database; returns lines to print."""
    from bot.demo_data import seed_registry

    lines: list[str] = []
    count = await seed_registry(db)
    lines.append(f"registry: {count} initiatives loaded" if count
                 else "registry: already has data, left as it is")
    try:
        from moderation.accounts import ensure_demo_moderator
    except ImportError:
        pass
    else:
        username, password = await ensure_demo_moderator(db)
        if password:
            lines.append(f"moderator login: {username} / {password}")
    try:
        from intake.demo_mail import seed_queue
    except ImportError:
        pass
    else:
        n = await seed_queue(settings, db)
        if n:
            lines.append(f"queue: {n} demo mails received and queued")
    return lines
