"""contacts' consent to publication (issue 11, personal data)

Revision ID: 0006
Revises: 0005

Adds ``contacts.publish_consent`` (NULL: never asked, true/false: the contact's answer),
``publish_consent_at`` and ``publish_consent_source`` (link | moderator).
Contact details are published only with consent (bot/contacts.py).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("publish_consent", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("publish_consent_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("publish_consent_source", sa.String(length=16),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("publish_consent_source")
        batch.drop_column("publish_consent_at")
        batch.drop_column("publish_consent")
