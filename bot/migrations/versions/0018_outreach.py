"""outreach: the address book of organisations and the outreach campaigns

Revision ID: 0018
Revises: 0017

An administrator imports organisations (each with a contact address, so opt-out and
bounces follow the one rule on contacts); an outreach campaign mails those whose area has
no or few initiatives in their sector, with follow-ups, once per step.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=False,
                  unique=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_organisations_region", "organisations", ["region"])
    op.create_table(
        "outreach_campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("max_initiatives", sa.Integer(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("started_by", sa.String(200), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "outreach_recipients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("outreach_campaigns.id"),
                  nullable=False),
        sa.Column("organisation_id", sa.Integer(), sa.ForeignKey("organisations.id"),
                  nullable=False),
        sa.Column("contact_id", sa.Integer(), sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("covered", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("submission_id", sa.Integer(), sa.ForeignKey("submissions.id"),
                  nullable=True),
        sa.Column("registered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_outreach_recipients_campaign_id", "outreach_recipients",
                    ["campaign_id"])
    op.create_index("uq_outreach_recipient", "outreach_recipients",
                    ["campaign_id", "organisation_id"], unique=True)
    op.create_table(
        "outreach_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("outreach_recipients.id"),
                  nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.String(300), nullable=True),
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox.id"), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("uq_outreach_step", "outreach_steps", ["recipient_id", "step"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_outreach_step", "outreach_steps")
    op.drop_table("outreach_steps")
    op.drop_index("uq_outreach_recipient", "outreach_recipients")
    op.drop_index("ix_outreach_recipients_campaign_id", "outreach_recipients")
    op.drop_table("outreach_recipients")
    op.drop_table("outreach_campaigns")
    op.drop_index("ix_organisations_region", "organisations")
    op.drop_table("organisations")
