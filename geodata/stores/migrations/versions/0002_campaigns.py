"""Campaigns: campaigns, their message queue (one row per message) and templates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column(
            "campaign_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=True),
        sa.Column("key_name", sa.String(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("uid", name=op.f("uq_campaigns_uid")),
        sa.UniqueConstraint("request_key", name=op.f("uq_campaigns_request_key")),
    )
    op.create_index(op.f("ix_campaigns_state"), "campaigns", ["state"])
    op.create_table(
        "campaign_messages",
        sa.Column("campaign_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("channel", sa.String(length=14), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("operator", sa.String(length=3), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=9), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_at", sa.Double(), nullable=True),
        sa.Column("units", sa.SmallInteger(), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_campaign_messages_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "seq", name=op.f("pk_campaign_messages")),
    )
    op.create_table(
        "campaign_templates",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_campaign_templates")),
    )


def downgrade() -> None:
    op.drop_table("campaign_templates")
    op.drop_table("campaign_messages")
    op.drop_index(op.f("ix_campaigns_state"), table_name="campaigns")
    op.drop_table("campaigns")
