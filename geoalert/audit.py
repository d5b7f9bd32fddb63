"""Audit records of resolutions: who resolved which zone when, and how much it reached.

A record holds the key's name, the time, a hash of the zone (the exact geometry resolved,
so that a zone can be recognised later without being stored), its area and the counts of
every part; never a phone number, an e-mail address or an address. The store refuses a
record that looks like personal data (:meth:`geodata.stores.base.BaseStore.append_audit`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geoalert.engine import Resolution
from geoalert.zones import Zone

__all__ = ["counts", "record", "resolution_counts", "resolve_record", "zone_hash"]


def zone_hash(geometry: BaseGeometry) -> str:
    """Hex SHA-256 of the normalised WKB of a zone (EPSG:4326): equal zones, equal hashes.

    Examples
    --------
    >>> a = shapely.box(4.3, 50.8, 4.4, 50.9)
    >>> zone_hash(a) == zone_hash(shapely.reverse(a)) != zone_hash(shapely.box(4.3, 50.8, 4.4, 51))
    True
    """
    return hashlib.sha256(shapely.to_wkb(shapely.normalize(geometry))).hexdigest()


def counts(value: Any) -> Any:
    """The numbers of a resolution's dict: numeric leaves kept, every list replaced by its
    length, text and geometry dropped, so that nothing but counts and measures remains.

    Examples
    --------
    >>> counts({"cells": [{"cell_id": "206-01-1-1"}], "operators": {"01": {"name": "Proximus",
    ...         "cell_count": 1, "warning_area": {"type": "Polygon", "coordinates": []}}}})
    {'cells': 1, 'operators': {'01': {'cell_count': 1}}}
    """
    if isinstance(value, Mapping):
        if "type" in value and "coordinates" in value:  # GeoJSON geometry
            return None
        kept = {str(k): counts(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    if isinstance(value, list | tuple):
        return len(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def resolution_counts(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`counts` of every part of ``Resolution.to_dict()`` (the zone left out)."""
    return counts({k: v for k, v in resolved.items() if k != "zone"})


def record(
    action: str,
    key_name: str,
    zone: Zone,
    counted: Mapping[str, Any],
    *,
    time: datetime | None = None,
) -> dict[str, Any]:
    """An audit record: what a key did with which zone, and the counts it got.

    Parameters
    ----------
    action : str
        What was asked: ``"resolve"``, ``"population"``, ``"cap"``...
    key_name : str
    zone : Zone
        The zone as resolved (its geometry is hashed, its area kept).
    counted : mapping
        Counts and measures only (see :func:`counts`).
    time : datetime, optional
        When (aware); now by default.

    Returns
    -------
    dict
        ``action``, ``key_name``, ``time``, ``zone_hash``, ``area_km2`` and ``counts``, as
        :meth:`geodata.stores.base.BaseStore.append_audit` takes it.
    """
    return {
        "action": action,
        "key_name": key_name,
        "time": time or datetime.now(UTC),
        "zone_hash": zone_hash(zone.geometry),
        "area_km2": zone.area_km2,
        "counts": dict(counted),
    }


def resolve_record(
    key_name: str,
    resolution: Resolution,
    resolved: Mapping[str, Any] | None = None,
    *,
    action: str = "resolve",
    time: datetime | None = None,
) -> dict[str, Any]:
    """The audit :func:`record` of one resolution, counting every part.

    ``resolved`` is ``resolution.to_dict()`` when the caller already has it (it is costly).
    """
    counted = resolution_counts(resolved or resolution.to_dict())
    return record(action, key_name, resolution.zone, counted, time=time)
