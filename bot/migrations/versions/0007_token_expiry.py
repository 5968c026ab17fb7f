"""every token expires; old receipts stand for the contact only if the contact wrote

Revision ID: 0007
Revises: 0006

Tokens issued before every token had an expiry get one, counted from their creation
(reply and answer tokens half a year, unsubscribe tokens 400 days: bot.tokens,
bot.campaigns). An old receipt or "please fix" token was issued with the entry's contact
even when someone else had written the reply; it keeps the contact only when the answer
it came with went to the contact's own address (its outbox row says where it went).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

tokens = sa.table("reply_tokens", sa.column("token_hash", sa.String),
                  sa.column("purpose", sa.String), sa.column("contact_id", sa.Integer),
                  sa.column("outbox_message_id", sa.String),
                  sa.column("created_at", sa.DateTime), sa.column("expires_at", sa.DateTime))
outbox = sa.table("outbox", sa.column("message_id", sa.String),
                  sa.column("to_addr", sa.String))
contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("email", sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(tokens.c.token_hash, tokens.c.purpose, tokens.c.created_at)
                        .where(tokens.c.expires_at.is_(None))).all()
    now = datetime.utcnow()
    for token_hash, purpose, created_at in rows:
        days = 400 if purpose == "unsubscribe" else 180
        conn.execute(sa.update(tokens).where(tokens.c.token_hash == token_hash)
                     .values(expires_at=(created_at or now) + timedelta(days=days)))
    went_to_contact = sa.select(sa.literal(1)).select_from(
        outbox.join(contacts, sa.func.lower(contacts.c.email) == outbox.c.to_addr)).where(
        outbox.c.message_id == tokens.c.outbox_message_id,
        contacts.c.id == tokens.c.contact_id).exists()
    conn.execute(sa.update(tokens).where(
        tokens.c.purpose.in_(("receipt", "problems")), tokens.c.contact_id.is_not(None),
        ~went_to_contact).values(contact_id=None))


def downgrade() -> None:
    pass  # the expiries and the cleared contacts are safe to keep
