"""The one schema of every store, in SQLAlchemy Core.

Two kinds of tables share one :data:`metadata`:

- reference geography (``areas``, ``cells``, ``addresses``, ``presence``), marked
  ``info={"geography": True}``: held by PostGIS only; the embedded store keeps them in the
  world's GeoParquet files;
- registrations and service state (``contacts``, ``contact_addresses``,
  ``contact_changes``, ``groups``, ``group_members``, ``api_keys``, ``audit``): in SQLite
  ``store.sqlite`` for the embedded store, in PostgreSQL otherwise.

Changes go through an alembic migration in ``geodata/stores/migrations/versions`` (a test
checks that a migrated database matches this module on both SQLite and PostGIS).

:data:`WORLD_DTYPES` is the world schema as pandas sees it; :func:`conform` casts frames read
from any store to it, so that every store returns identical frames.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from geoalchemy2 import Geometry

__all__ = [
    "LAYER_KEYS",
    "WORLD_DTYPES",
    "UtcDateTime",
    "conform",
    "geography_tables",
    "list_column",
    "metadata",
    "service_tables",
]

SRID = 4326
"""EPSG code of every geometry column and layer."""


class UtcDateTime(sa.TypeDecorator):
    """A timezone-aware timestamp, stored in UTC, read back aware (UTC) on every backend.

    SQLite has no timezone type and hands back naive values; this type makes both backends
    answer the same.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: sa.Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# SQLite only makes INTEGER PRIMARY KEY columns auto-increment.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _geometry(kind: str) -> Geometry:
    # GiST indexes are declared explicitly below so that bulk loads can drop and rebuild them.
    return Geometry(kind, srid=SRID, spatial_index=False)


_GEOGRAPHY = {"geography": True}

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("code", sa.String, primary_key=True),
    sa.Column("level", sa.String, nullable=False),
    sa.Column("name_nl", sa.String),
    sa.Column("name_fr", sa.String),
    sa.Column("name_de", sa.String),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("parent_code", sa.String),
    sa.Column("province_code", sa.String),
    sa.Column("region_code", sa.String),
    sa.Column("geometry", _geometry("MULTIPOLYGON"), nullable=False),
    sa.Index(None, "geometry", postgresql_using="gist"),
    info=_GEOGRAPHY,
)

cells = sa.Table(
    "cells",
    metadata,
    sa.Column("cell_id", sa.String, primary_key=True),
    sa.Column("mcc", sa.SmallInteger, nullable=False),
    sa.Column("operator", sa.String, nullable=False),
    sa.Column("operator_name", sa.String, nullable=False),
    sa.Column("site_id", sa.String, nullable=False),
    sa.Column("radio", sa.String, nullable=False),
    sa.Column("band", sa.String, nullable=False),
    sa.Column("freq_mhz", sa.SmallInteger, nullable=False),
    sa.Column("azimuth", sa.Double),
    sa.Column("site_lon", sa.Double, nullable=False),
    sa.Column("site_lat", sa.Double, nullable=False),
    sa.Column("range_m", sa.Double, nullable=False),
    sa.Column("geometry", _geometry("GEOMETRY"), nullable=False),
    sa.Index(None, "geometry", postgresql_using="gist"),
    sa.Index(None, "operator"),
    info=_GEOGRAPHY,
)

addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("address_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("municipality", sa.String, nullable=False),
    sa.Column("geometry", _geometry("POINT"), nullable=False),
    sa.Index(None, "geometry", postgresql_using="gist"),
    sa.Index(None, "municipality"),
    info=_GEOGRAPHY,
)

presence = sa.Table(
    "presence",
    metadata,
    sa.Column("cell_id", sa.String, primary_key=True),
    sa.Column("operator", sa.String, nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("home_mcc", sa.SmallInteger, primary_key=True),
    sa.Column("devices", sa.Integer, nullable=False),
    info=_GEOGRAPHY,
)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("contact_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("phone", sa.String(16)),
    sa.Column("sms", sa.Boolean, nullable=False),
    sa.Column("voice", sa.Boolean, nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Index(None, "phone"),
    sa.Index(None, "email"),
)

contact_addresses = sa.Table(
    "contact_addresses",
    metadata,
    sa.Column(
        "contact_id",
        sa.BigInteger,
        sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("position", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("address_id", sa.BigInteger, nullable=False),
    sa.Column("label", sa.String(8), nullable=False),
    sa.Index(None, "address_id"),
)

# One row per registration, update or removal of a contact, written in the same transaction:
# a running engine reads the contacts changed after the last sequence number it has seen.
# No personal data: the contact's current registration is read from the tables above.
contact_changes = sa.Table(
    "contact_changes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=False),  # 1, 2, ... without gaps
    sa.Column("contact_id", sa.BigInteger, nullable=False),
    sa.Index(None, "contact_id"),  # the largest id ever given, never given again
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("group_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("area_code", sa.String, nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column(
        "group_id",
        sa.String,
        sa.ForeignKey("groups.group_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "contact_id",
        sa.BigInteger,
        sa.ForeignKey("contacts.contact_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Index(None, "contact_id"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("area_code", sa.String),
    sa.Column("secret_hash", sa.String, nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("key_name", sa.String),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Index(None, "time"),
)

# Campaigns (geoalert.campaigns): one row per campaign, one row per message with its state.
campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.String(32), nullable=False, unique=True),
    sa.Column("request_key", sa.String(64), unique=True),
    sa.Column("key_name", sa.String),
    sa.Column("mode", sa.String(10), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("progress", sa.JSON),
    sa.Column("summary", sa.JSON),
    sa.Index(None, "state"),
)

campaign_messages = sa.Table(
    "campaign_messages",
    metadata,
    sa.Column(
        "campaign_id",
        sa.BigInteger,
        sa.ForeignKey("campaigns.campaign_id"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("channel", sa.String(14), nullable=False),
    sa.Column("contact_id", sa.BigInteger),
    sa.Column("operator", sa.String(3)),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("state", sa.String(9), nullable=False),
    sa.Column("attempts", sa.SmallInteger, nullable=False),
    sa.Column("next_at", sa.Double),
    sa.Column("units", sa.SmallInteger, nullable=False),
    sa.Column("provider_ref", sa.String(64)),
    sa.Column("reason", sa.String(200)),
)

campaign_templates = sa.Table(
    "campaign_templates",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)


def geography_tables() -> list[sa.Table]:
    """Reference geography tables (PostGIS only), in load order."""
    return [t for t in metadata.sorted_tables if t.info.get("geography")]


def service_tables() -> list[sa.Table]:
    """Registration and service tables (every store), in dependency order."""
    return [t for t in metadata.sorted_tables if not t.info.get("geography")]


# The world schema as pandas sees it. "str" columns hold Python strings or missing values;
# list columns hold one numpy array per row.
_STR = "str"
WORLD_DTYPES: dict[str, dict[str, object]] = {
    "areas": {
        "code": _STR,
        "level": _STR,
        "name_nl": _STR,
        "name_fr": _STR,
        "name_de": _STR,
        "name": _STR,
        "parent_code": _STR,
        "province_code": _STR,
        "region_code": _STR,
    },
    "cells": {
        "cell_id": _STR,
        "mcc": np.int16,
        "operator": _STR,
        "operator_name": _STR,
        "site_id": _STR,
        "radio": _STR,
        "band": _STR,
        "freq_mhz": np.int16,
        "azimuth": np.float64,
        "site_lon": np.float64,
        "site_lat": np.float64,
        "range_m": np.float64,
    },
    "addresses": {"address_id": np.int64, "municipality": _STR},
    "presence": {
        "cell_id": _STR,
        "operator": _STR,
        "time": pd.DatetimeTZDtype("ns", "Europe/Brussels"),
        "home_mcc": np.int16,
        "devices": np.int32,
    },
    "contacts": {
        "contact_id": np.int64,
        "phone": _STR,
        "sms": np.bool_,
        "voice": np.bool_,
        "email": _STR,
        "language": _STR,
        "address_ids": (np.int64,),
        "address_labels": (_STR,),
    },
    "groups": {
        "group_id": _STR,
        "name": _STR,
        "kind": _STR,
        "area_code": _STR,
        "contact_ids": (np.int64,),
    },
}

#: Columns every layer is sorted by when read from a store.
LAYER_KEYS: dict[str, list[str]] = {
    "areas": ["code"],
    "cells": ["cell_id"],
    "addresses": ["address_id"],
    "presence": ["cell_id", "time", "home_mcc"],
    "contacts": ["contact_id"],
    "groups": ["group_id"],
}

_STRING_DTYPE = pd.Series(
    ["a"]
).dtype  # pandas' default string dtype (str in pandas 3, object before)


def _to_strings(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.StringDtype) and values.dtype == _STRING_DTYPE:
        return values
    values = values.astype(object).where(values.notna(), None)
    return pd.Series(values, index=values.index, dtype=_STRING_DTYPE)


def conform(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Cast ``frame`` to the world schema of ``layer``: column order, dtypes, row order.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        A layer as read from a file or a database. A GeoDataFrame keeps its ``geometry``
        column (set to EPSG:4326 when it has no CRS).
    layer : str
        One of :data:`WORLD_DTYPES`.

    Returns
    -------
    DataFrame or GeoDataFrame
        With the schema's columns (geometry last), sorted by :data:`LAYER_KEYS` with a fresh
        ``RangeIndex``.

    Raises
    ------
    ValueError
        When a column of the schema is missing.
    """
    dtypes = WORLD_DTYPES[layer]
    missing = [c for c in dtypes if c not in frame.columns]
    if missing:
        raise ValueError(f"{layer}: missing columns {missing}")
    out = {}
    for column, dtype in dtypes.items():
        values = frame[column]
        if isinstance(dtype, tuple):
            out[column] = _to_arrays(values, dtype[0])
        elif dtype == _STR:
            out[column] = _to_strings(values)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            out[column] = pd.to_datetime(values, utc=True).dt.tz_convert(dtype.tz).astype(dtype)
        else:
            out[column] = values.astype(dtype)
    result = pd.DataFrame(out, index=frame.index)
    if isinstance(frame, gpd.GeoDataFrame):
        crs = frame.crs if frame.crs is not None else SRID
        result = gpd.GeoDataFrame(result, geometry=frame.geometry.values, crs=crs)
    keys = LAYER_KEYS[layer]
    if not _is_sorted(result, keys):
        result = result.sort_values(keys, kind="stable")
    return result.reset_index(drop=True)


def _to_arrays(values: pd.Series, dtype: object) -> pd.Series:
    target = np.dtype(object) if dtype == _STR else np.dtype(dtype)

    def one(v: object) -> np.ndarray:
        if isinstance(v, np.ndarray) and v.dtype == target:
            return v
        if dtype == _STR:
            return np.asarray([str(x) for x in v], dtype=object)
        return np.asarray(v, dtype=dtype)

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _is_sorted(frame: pd.DataFrame, keys: list[str]) -> bool:
    if len(keys) == 1:
        return frame[keys[0]].is_monotonic_increasing
    return pd.MultiIndex.from_frame(frame[keys]).is_monotonic_increasing


def list_column(offsets: np.ndarray, values: np.ndarray) -> pd.Series:
    """One array per row, cut from flat ``values`` at ``offsets`` (n + 1 positions, int32)."""
    array = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))
    return pd.Series(array.to_pandas(), dtype=object)
