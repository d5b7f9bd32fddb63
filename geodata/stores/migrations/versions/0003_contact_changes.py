"""Contact changes: one numbered row per registration, update or removal of a contact
(a running engine reads what changed since the number it has; ids are never given twice).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
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
        "contact_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_contact_changes")),
    )
    op.create_index(op.f("ix_contact_changes_contact_id"), "contact_changes", ["contact_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_changes_contact_id"), table_name="contact_changes")
    op.drop_table("contact_changes")
