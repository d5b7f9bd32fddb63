"""The engine: a world loaded once, zones resolved into cells, contacts and population.

>>> engine = Engine.open("/data/world")                        # doctest: +SKIP
>>> res = engine.resolve({"area": "21004"}, include=["cells"])  # doctest: +SKIP
>>> res.to_dict()["zone"]["area_km2"]                           # doctest: +SKIP

Each part of a resolution (``cells``, ``addresses``, ...) is computed by its own module
registered in :data:`geoalert.parts.PARTS`; their indexes are built once in
:meth:`Engine.open`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geoalert import frames
from geoalert.groups import GroupsOnly, GroupsResolution, resolve_groups
from geoalert.parts import PARTS, Part, PartResult, Request, SharedReads, load_part
from geoalert.settings import Settings, get_settings
from geoalert.zones import Zone, ZoneError, parse_zone
from geodata.stores import open_store
from geodata.stores.groups import Group

__all__ = ["Engine", "Resolution"]


@dataclass(frozen=True, eq=False)
class Resolution:
    """What a zone resolved into.

    Attributes
    ----------
    zone : Zone
        The zone resolved (exact geometry, area, warnings).
    parts : mapping of str to part result
        Each included part's result, in ``include`` order (``res["cells"].cell_ids``...).
    """

    zone: Zone
    parts: Mapping[str, PartResult]

    def __getitem__(self, name: str) -> PartResult:
        return self.parts[name]

    def to_dict(self) -> dict:
        """Plain JSON: ``{"zone": {...}, "cells": [...], ...}`` with the included parts."""
        out = {"zone": self.zone.to_dict()}
        for part in self.parts.values():
            out.update(part.to_dict())
        return out

    def cells_frame(self) -> gpd.GeoDataFrame:
        """The selected cells with their coverage (:func:`geoalert.frames.cells_frame`)."""
        return frames.cells_frame(self)

    def gaps_frame(self) -> gpd.GeoDataFrame:
        """Each operator's overshoot and undershoot shapes (:func:`geoalert.frames.gaps_frame`)."""
        return frames.gaps_frame(self)


class Engine:
    """A world loaded in memory with every part's index, ready to resolve zones.

    Open with :meth:`open`; the constructor takes already-built pieces.
    """

    def __init__(
        self,
        store: Any,
        areas: Mapping[str, BaseGeometry],
        extent: tuple[float, float, float, float],
        indexes: Mapping[str, Any],
        settings: Settings,
    ):
        self.store = store
        self.areas = areas
        self.extent = extent
        self.indexes = dict(indexes)
        self.settings = settings
        self._parts: dict[str, Part] = {name: load_part(name) for name in self.indexes}

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        db: str | None = None,
        *,
        include: Iterable[str] | None = None,
        settings: Settings | None = None,
    ) -> Engine:
        """Load a world and build every part's index.

        Parameters
        ----------
        data_dir : path
            World directory (``geoalert demo-data`` output).
        db : str, optional
            PostGIS store URL; the embedded store of ``data_dir`` when omitted.
        include : iterable of str, optional
            Parts to load (default: every registered part).
        settings : Settings, optional
            Defaults to :func:`geoalert.settings.get_settings`.
        """
        settings = settings or get_settings()
        store = open_store(data_dir, db, metric_crs=settings.metric_crs)
        names = _known(include, "include") if include is not None else list(PARTS)
        # Parts a loaded part requires are loaded too (``contacts`` needs ``addresses``).
        names = list(dict.fromkeys(r for n in names for r in (*load_part(n).requires, n)))
        parts = [load_part(name) for name in names]
        shared = SharedReads(store, [("areas",), *(part.reads for part in parts)])
        areas = shared.read_areas()
        shared.done(("areas",))
        # Parts reading more layers load first: a part that declares a layer it then reads
        # another way (population takes address points straight from an embedded world's
        # file) leaves the layer to a single later reader, which reads it without keeping it.
        built = {}
        for part in sorted(parts, key=lambda part: -len(part.reads)):
            built[part.name] = part.load(shared, settings)
            shared.done(part.reads)
        return cls(
            store,
            dict(zip(areas["code"], areas.geometry.values, strict=True)),
            tuple(float(v) for v in areas.total_bounds),
            {name: built[name] for name in names},
            settings,
        )

    @property
    def operators(self) -> dict[str, str]:
        """Operator MNC -> name, from the cells of the world."""
        cells = self.indexes.get("cells")
        return cells.operator_names if cells is not None else {}

    @property
    def times(self) -> pd.DatetimeIndex:
        """Starts of the time buckets of the presence data (tz-aware), for ``at``.

        Raises
        ------
        ValueError
            The engine was opened without the ``population`` part.
        """
        if "population" not in self.indexes:
            raise ValueError("no time buckets: the engine was opened without 'population'")
        return self.indexes["population"].times

    def data_version(self) -> int:
        """Number of the newest change to the registered contacts this engine serves (0
        without the ``contacts`` part), after the check for changes when one is due: equal
        numbers mean equal answers for the same request."""
        contacts = self.indexes.get("contacts")
        if contacts is None:
            return 0
        _ = contacts.index  # takes in the store's changes when a check is due
        return contacts.version

    def zone(self, value: object) -> Zone:
        """Parse and check a zone against this world (area codes, extent)."""
        if isinstance(value, Zone):
            return value
        return parse_zone(value, areas=self.areas, extent=self.extent, settings=self.settings)

    def resolve(
        self,
        zone: object,
        include: Iterable[str] | None = None,
        operators: Iterable[str] | None = None,
        at: datetime | str | None = None,
        policy: str | Mapping[str, str] = "intersects",
        message: str | None = None,
    ) -> Resolution:
        """Resolve a zone into the included parts.

        Parameters
        ----------
        zone : dict, str or Zone
            Any zone form (:mod:`geoalert.zones`), or an already parsed :class:`Zone`.
        include : iterable of str, optional
            Parts to compute (``"cells"``, ``"addresses"``, ``"contacts"``,
            ``"population"``); every loaded part when omitted.
        operators : iterable of str, optional
            Operator MNCs (``"01"``); every operator when omitted.
        at : datetime or ISO 8601 str, optional
            Time for the population part.
        policy : str or mapping of str to str
            Cell selection policy (``"intersects"``, ``"centroid"``, ``"overlap>=0.5"``),
            or one per operator MNC.
        message : str, optional
            Message text, for costs.

        Raises
        ------
        ZoneError
            A bad zone, an unknown part, operator or policy.
        """
        names = list(self.indexes) if include is None else _known(include, "include", self._parts)
        request = Request(self._operators(operators), at, policy, message)
        parsed = self.zone(zone)
        done: dict[str, PartResult] = {}
        for name in names:
            self._compute(name, parsed, request, done)
        return Resolution(parsed, {name: done[name] for name in names})

    def areas_frame(self, level: str | None = None) -> gpd.GeoDataFrame:
        """The world's areas, all or of one level (:func:`geoalert.frames.areas_frame`)."""
        return frames.areas_frame(self, level)

    def reach_frame(self, zones: Mapping[str, object], **options: Any) -> gpd.GeoDataFrame:
        """Whom each of many zones reaches, one row each (:func:`geoalert.frames.reach_frame`)."""
        return frames.reach_frame(self, zones, **options)

    def population_frame(
        self, zones: Mapping[str, object], times: Iterable[datetime | str] | None = None
    ) -> pd.DataFrame:
        """People present per zone and time (:func:`geoalert.frames.population_frame`)."""
        return frames.population_frame(self, zones, times)

    def group(self, group_id: str) -> Group:
        """One group alerted without a zone (:mod:`geoalert.groups`).

        Raises
        ------
        geodata.stores.groups.UnknownGroup
        """
        return self.indexes["contacts"].index.group(group_id)

    def resolve_groups(
        self, group_ids: Iterable[str], message: str | None = None
    ) -> GroupsResolution:
        """The people of one or more groups, without a zone (:mod:`geoalert.groups`)."""
        return resolve_groups(self.indexes["contacts"], group_ids, message)

    def for_groups(self, group_ids: Iterable[str]) -> GroupsOnly:
        """This engine for an entity allowed only ``group_ids``: it resolves no zone."""
        return GroupsOnly(self, group_ids)

    def _compute(self, name: str, zone: Zone, request: Request, done: dict) -> None:
        if name in done:
            return
        part = self._parts[name]
        for required in part.requires:
            self._compute(required, zone, request, done)
        done[name] = part.resolve(self.indexes[name], zone, request, done)

    def _operators(self, operators: Iterable[str] | None) -> tuple[str, ...] | None:
        if operators is None:
            return None
        if isinstance(operators, str):
            operators = [operators]
        known = self.operators
        chosen = tuple(operators)
        for i, op in enumerate(chosen):
            if op not in known:
                listed = ", ".join(f"{mnc} ({name})" for mnc, name in known.items())
                raise ZoneError(f"operators[{i}]: unknown operator {op!r}; known: {listed}")
        return tuple(sorted(set(chosen)))


def _known(names: Iterable[str], where: str, known: Mapping[str, Any] = PARTS) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names)
    for i, name in enumerate(names):
        if name not in known:
            raise ZoneError(f"{where}[{i}]: unknown part {name!r}; available: {', '.join(known)}")
    return list(dict.fromkeys(names))
