"""GeoDataFrames for analysts: the cells of a resolution, their gaps, the world's areas, and
many zones resolved into one table.

>>> res = engine.resolve({"area": "21004"})        # doctest: +SKIP
>>> res.cells_frame().plot(column="operator")      # doctest: +SKIP
>>> engine.reach_frame({"Brussels": {"area": "21004"}, "Ixelles": {"area": "21009"}})  # doctest: +SKIP

Geometries are EPSG:4326 (lon, lat degrees); areas in km² are measured in the settings'
metric CRS. Only published numbers appear: a population the engine suppresses (fewer than
k people) is NaN here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cells.selection import coverage_gap_shapes
from geoalert.zones import Zone, ZoneError, from_metric

if TYPE_CHECKING:
    from geoalert.engine import Engine, Resolution

__all__ = ["areas_frame", "cells_frame", "gaps_frame", "population_frame", "reach_frame"]

CRS = "EPSG:4326"
#: Per-cell columns of :func:`cells_frame` taken from the world's cells, when present.
CELL_COLUMNS = ("operator_name", "site_id", "radio", "band", "freq_mhz", "azimuth", "range_m")
#: Values of ``level`` in the world's areas.
LEVELS = ("region", "province", "municipality")
#: Channels of the contacts part, each a ``contacts_<channel>`` column of :func:`reach_frame`.
CHANNELS = ("sms", "voice", "email")


def _part(res: Resolution, name: str):
    if name not in res.parts:
        raise ValueError(
            f"the resolution has no {name!r} part (it holds {', '.join(res.parts) or 'none'}): "
            f"resolve with include=[..., {name!r}]"
        )
    return res.parts[name]


def cells_frame(res: Resolution) -> gpd.GeoDataFrame:
    """The selected cells of a resolution, one row each, with their coverage.

    Returns
    -------
    GeoDataFrame
        Sorted by operator then cell id: ``cell_id``, ``operator`` (MNC), the cell's
        attributes (``operator_name``, ``site_id``, ``radio``, ``band``, ``freq_mhz``,
        ``azimuth``, ``range_m``), ``policy`` (the operator's selection policy),
        ``coverage_km2``, ``share_in_zone`` (share of the coverage area inside the zone,
        0..1) and ``geometry`` (coverage, EPSG:4326).

    Raises
    ------
    ValueError
        The resolution has no ``cells`` part.
    """
    cells = _part(res, "cells")
    index, p = cells.cells.index, cells.positions
    metric = cells.cells.metric[p]
    zone = res.zone.metric_in(cells.cells.metric_crs)
    shapely.prepare(zone)
    area = shapely.area(metric)
    inside = shapely.area(shapely.intersection(metric, zone))
    operator = index.operator[p]
    data = {"cell_id": index.cell_id[p], "operator": operator}
    data |= {name: index.columns[name][p] for name in CELL_COLUMNS if name in index.columns}
    data["policy"] = [str(cells.policies[op]) for op in operator]
    data["coverage_km2"] = area / 1e6
    data["share_in_zone"] = np.divide(inside, area, out=np.zeros_like(area), where=area > 0)
    return gpd.GeoDataFrame(data, geometry=list(index.geometry[p]), crs=CRS)


def gaps_frame(res: Resolution) -> gpd.GeoDataFrame:
    """Where each operator's selection misses the zone: overshoot and undershoot shapes.

    Returns
    -------
    GeoDataFrame
        Two rows per reported operator: ``operator``, ``operator_name``, ``policy``,
        ``cells`` (number selected), ``kind`` (``"overshoot"``: covered outside the zone;
        ``"undershoot"``: zone left uncovered), ``area_km2`` and ``geometry`` (EPSG:4326,
        possibly empty). The areas equal ``overshoot_km2`` and ``undershoot_km2`` of
        ``res.to_dict()["operators"]``.

    Raises
    ------
    ValueError
        The resolution has no ``cells`` part.
    """
    cells = _part(res, "cells")
    crs = cells.cells.metric_crs
    zone = res.zone.metric_in(crs)
    rows = []
    for op, positions in cells.by_operator().items():
        shapes = coverage_gap_shapes(cells.cells.metric, positions, zone)
        for kind, shape in zip(("overshoot", "undershoot"), shapes, strict=True):
            rows.append(
                {
                    "operator": op,
                    "operator_name": cells.cells.operator_names[op],
                    "policy": str(cells.policies[op]),
                    "cells": len(positions),
                    "kind": kind,
                    "area_km2": float(shapely.area(shape)) / 1e6,
                    "geometry": from_metric(shape, crs),
                }
            )
    columns = ["operator", "operator_name", "policy", "cells", "kind", "area_km2", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=CRS)


def areas_frame(engine: Engine, level: str | None = None) -> gpd.GeoDataFrame:
    """The world's areas (``areas.parquet`` schema), all or those of one level.

    Parameters
    ----------
    engine : Engine
    level : {"region", "province", "municipality"}, optional

    Raises
    ------
    ValueError
        An unknown level.
    """
    areas = engine.store.read_areas()
    if level is None:
        return areas.reset_index(drop=True)
    if level not in LEVELS:
        raise ValueError(f"level: unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    return areas[areas["level"] == level].reset_index(drop=True)


def reach_frame(
    engine: Engine,
    zones: Mapping[str, object],
    *,
    operators: Iterable[str] | None = None,
    policy: str | Mapping[str, str] = "intersects",
    message: str | None = None,
) -> gpd.GeoDataFrame:
    """Whom each of many zones reaches, one row per zone.

    Parameters
    ----------
    engine : Engine
    zones : mapping of str to zone
        Label -> any zone form of :meth:`Engine.resolve`.
    operators, policy, message
        As for :meth:`Engine.resolve`.

    Returns
    -------
    GeoDataFrame
        Indexed by ``zone`` (the labels, in order): ``area_km2``; ``cells`` and
        ``cells_<mnc>`` per operator (selected cells); ``addresses``; ``contacts`` (people,
        each once), ``contacts_sms``, ``contacts_voice``, ``contacts_email``; ``cost_eur``
        (of the message to the contacts); ``geometry`` (the zone resolved, EPSG:4326).

    Raises
    ------
    geoalert.zones.ZoneError
        A bad zone (the message names its label), operator or policy.
    """
    rows, geometry = [], []
    for label, zone in zones.items():
        res = engine.resolve(
            _zone(engine, label, zone),
            include=["cells", "addresses", "contacts"],
            operators=operators,
            policy=policy,
            message=message,
        )
        per_operator = {op: len(p) for op, p in res.parts["cells"].by_operator().items()}
        contacts = res.parts["contacts"].to_dict()["contacts"]
        row = {"zone": label, "area_km2": res.zone.area_km2, "cells": sum(per_operator.values())}
        row |= {f"cells_{op}": n for op, n in per_operator.items()}
        row["addresses"] = res.parts["addresses"].selection.count
        row["contacts"] = contacts["count"]
        row |= {f"contacts_{ch}": contacts["by_channel"][ch] for ch in CHANNELS}
        row["cost_eur"] = contacts["cost_eur"]
        rows.append(row)
        geometry.append(res.zone.geometry)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["zone", "area_km2", "cells"])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS).set_index("zone")


def population_frame(
    engine: Engine,
    zones: Mapping[str, object],
    times: Iterable[datetime | str] | None = None,
) -> pd.DataFrame:
    """The people present in each of many zones at each of several times.

    Parameters
    ----------
    engine : Engine
    zones : mapping of str to zone
        Label -> any zone form of :meth:`Engine.resolve`.
    times : iterable of datetime or ISO 8601 str, optional
        Times asked for; every time bucket of the world's presence data by default.

    Returns
    -------
    DataFrame
        One row per zone and time, zones in order then times in order: ``zone``, ``at``
        (start of the bucket used, in the presence data's time zone), ``estimate``, ``low``, ``high`` (people; the
        interval is meant to hold the truth 90% of the time), ``rounded_to`` and
        ``area_km2``. A suppressed estimate (fewer than k people) is NaN.

    Raises
    ------
    geoalert.zones.ZoneError
        A bad zone (the message names its label).
    geoalert.population.index.AtError
        A time in no bucket of the presence data.
    """
    times = list(engine.times if times is None else times)
    rows = []
    for label, zone in zones.items():
        parsed = _zone(engine, label, zone)
        for at in times:
            found = engine.resolve(parsed, include=["population"], at=at).to_dict()["population"]
            rows.append(
                {
                    "zone": label,
                    "at": pd.Timestamp(found["at"]).tz_convert(engine.times.tz),
                    "estimate": np.nan if found["estimate"] is None else found["estimate"],
                    "low": found["low"],
                    "high": found["high"],
                    "rounded_to": found["rounded_to"],
                    "area_km2": parsed.area_km2,
                }
            )
    columns = ["zone", "at", "estimate", "low", "high", "rounded_to", "area_km2"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"estimate": float, "low": float, "high": float})


def _zone(engine: Engine, label: str, zone: object) -> Zone:
    """The zone parsed by the engine, a ZoneError naming its label."""
    try:
        return engine.zone(zone)
    except ZoneError as error:
        raise ZoneError(f"zone {label!r}: {error}") from None
