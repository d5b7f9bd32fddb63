"""Initial schema: registrations, groups, API keys, audit; reference geography on PostGIS.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "the audit log is append-only"


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("contact_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("voice", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contacts")),
    )
    op.create_index(op.f("ix_contacts_email"), "contacts", ["email"])
    op.create_index(op.f("ix_contacts_phone"), "contacts", ["phone"])
    op.create_table(
        "contact_addresses",
        sa.Column("contact_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("address_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.contact_id"],
            name=op.f("fk_contact_addresses_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "position", name=op.f("pk_contact_addresses")),
    )
    op.create_index(op.f("ix_contact_addresses_address_id"), "contact_addresses", ["address_id"])
    op.create_table(
        "groups",
        sa.Column("group_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("area_code", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.contact_id"],
            name=op.f("fk_group_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.group_id"],
            name=op.f("fk_group_members_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "contact_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_contact_id"), "group_members", ["contact_id"])
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("area_code", sa.String(), nullable=True),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "audit",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("key_name", sa.String(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit")),
    )
    op.create_index(op.f("ix_audit_time"), "audit", ["time"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
        _create_geography()
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def _geometry(kind: str) -> Geometry:
    return Geometry(kind, srid=4326, spatial_index=False)


def _create_geography() -> None:
    """Reference geography tables: PostGIS only (the embedded store reads GeoParquet)."""
    op.create_table(
        "areas",
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("name_nl", sa.String(), nullable=True),
        sa.Column("name_fr", sa.String(), nullable=True),
        sa.Column("name_de", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("parent_code", sa.String(), nullable=True),
        sa.Column("province_code", sa.String(), nullable=True),
        sa.Column("region_code", sa.String(), nullable=True),
        sa.Column("geometry", _geometry("MULTIPOLYGON"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_areas")),
    )
    op.create_index(op.f("ix_areas_geometry"), "areas", ["geometry"], postgresql_using="gist")
    op.create_table(
        "cells",
        sa.Column("cell_id", sa.String(), nullable=False),
        sa.Column("mcc", sa.SmallInteger(), nullable=False),
        sa.Column("operator", sa.String(), nullable=False),
        sa.Column("operator_name", sa.String(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("radio", sa.String(), nullable=False),
        sa.Column("band", sa.String(), nullable=False),
        sa.Column("freq_mhz", sa.SmallInteger(), nullable=False),
        sa.Column("azimuth", sa.Double(), nullable=True),
        sa.Column("site_lon", sa.Double(), nullable=False),
        sa.Column("site_lat", sa.Double(), nullable=False),
        sa.Column("range_m", sa.Double(), nullable=False),
        sa.Column("geometry", _geometry("GEOMETRY"), nullable=False),
        sa.PrimaryKeyConstraint("cell_id", name=op.f("pk_cells")),
    )
    op.create_index(op.f("ix_cells_geometry"), "cells", ["geometry"], postgresql_using="gist")
    op.create_index(op.f("ix_cells_operator"), "cells", ["operator"])
    op.create_table(
        "addresses",
        sa.Column("address_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("municipality", sa.String(), nullable=False),
        sa.Column("geometry", _geometry("POINT"), nullable=False),
        sa.PrimaryKeyConstraint("address_id", name=op.f("pk_addresses")),
    )
    op.create_index(
        op.f("ix_addresses_geometry"), "addresses", ["geometry"], postgresql_using="gist"
    )
    op.create_index(op.f("ix_addresses_municipality"), "addresses", ["municipality"])
    op.create_table(
        "presence",
        sa.Column("cell_id", sa.String(), nullable=False),
        sa.Column("operator", sa.String(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("home_mcc", sa.SmallInteger(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell_id", "time", "home_mcc", name=op.f("pk_presence")),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("presence", "addresses", "cells", "areas"):
            op.drop_table(table)
        op.execute("DROP TRIGGER audit_no_truncate ON audit")
        op.execute("DROP TRIGGER audit_append_only ON audit")
        op.execute("DROP FUNCTION audit_append_only()")
    for table in ("audit", "api_keys", "group_members", "groups", "contact_addresses", "contacts"):
        op.drop_table(table)
