"""outgoing mail and campaign additions (issue 4)

Revision ID: 0003
Revises: 0002

- ``sandbox_mails``: what the demo's embedded SMTP server received;
- ``ix_outbox_lease``: the sender's "sending with an expired lease" claim;
- ``ix_campaign_steps_outbox_id``: the sender marks a step sent/failed by its outbox row;
- ``ix_campaign_steps_created_at``: the digest's "marked unconfirmed since" lookup.
(The planner's latest-step lookup uses the unique (initiative_id, cycle, step) index.)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("rcpt_to", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_mails")),
    )
    with op.batch_alter_table("sandbox_mails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_mails_received_at"), ["received_at"],
                              unique=False)
    with op.batch_alter_table("campaign_steps", schema=None) as batch_op:
        batch_op.create_index("ix_campaign_steps_outbox_id", ["outbox_id"], unique=False)
        batch_op.create_index("ix_campaign_steps_created_at", ["step", "created_at"],
                              unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_lease", ["state", "lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_lease")
    with op.batch_alter_table("campaign_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_campaign_steps_created_at")
        batch_op.drop_index("ix_campaign_steps_outbox_id")
    with op.batch_alter_table("sandbox_mails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_mails_received_at"))
    op.drop_table("sandbox_mails")
