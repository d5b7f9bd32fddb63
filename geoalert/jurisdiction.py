"""Jurisdictions: what a key's role allows, and where.

Every check answers one question about one key (see :mod:`geoalert.keys`): may this role
do this kind of thing at all (:func:`require`), and does this zone or area lie within the
key's territory (:meth:`Jurisdictions.check_zone`, :meth:`Jurisdictions.check_area`)?
Refusals name the key's own territory, which its holder knows, and nothing else.

Territories are the world's province and municipality geometries. A zone is within one
when the territory, grown by a small tolerance in metres (borders shared by neighbours are
drawn slightly apart), covers it; predicates on EPSG:4326 coordinates as-is, like PostGIS.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import geopandas as gpd
import shapely

from geoalert.keys import Role
from geodata.stores.access import KeyRecord


class Action(StrEnum):
    """Kinds of request a role may be allowed to make."""

    RESOLVE = "resolve"
    """Resolve a zone into cells, addresses, contacts and population, or alert it."""
    POPULATION = "population"
    """Read present-population aggregates of an area."""
    GROUPS = "groups"
    """Alert registered groups, without a zone."""
    REFERENCE = "reference"
    """Read areas, operators and cells: public reference data."""


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.FEDERAL: frozenset(Action),
    Role.GOVERNOR: frozenset(Action),
    Role.MAYOR: frozenset(Action),
    Role.OPERATOR: frozenset({Action.POPULATION, Action.REFERENCE}),
    Role.GROUP_ONLY: frozenset({Action.GROUPS, Action.REFERENCE}),
    Role.ADMIN: frozenset(Action),
}


class NotPermitted(Exception):
    """A key asked for something its role or territory does not allow.

    The message is safe to show to the key's holder.
    """


class OutsideJurisdiction(NotPermitted):
    """A zone or area lies outside the key's territory."""


@dataclass(frozen=True, slots=True)
class Territory:
    """Where a key may act: the whole country, or one province or municipality."""

    level: str
    """``"country"``, ``"province"`` or ``"municipality"``."""
    code: str | None
    """NIS code; None for the country."""
    name: str

    def __str__(self) -> str:
        if self.code is None:
            return self.name
        return f"{self.level} {self.name} ({self.code})"


COUNTRY = Territory("country", None, "Belgium")


def require(key: KeyRecord, action: Action) -> None:
    """Raise :class:`NotPermitted` unless the key's role allows ``action``."""
    if action not in ROLE_ACTIONS[key.role]:
        raise NotPermitted(f"a {key.role} key may not {_VERBS[action]}")


_VERBS = {
    Action.RESOLVE: "resolve or alert zones",
    Action.POPULATION: "read present-population figures",
    Action.GROUPS: "alert groups",
    Action.REFERENCE: "read reference data",
}


class Jurisdictions:
    """Territories of keys, built from the world's areas.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        The world's areas (``code``, ``level``, ``name``, ``province_code``, ``geometry``)
        in EPSG:4326.
    metric_crs : str
        CRS in metres in which the tolerance is applied.
    tolerance_m : float
        How far a zone may cross its territory's border, in metres.
    """

    def __init__(self, areas: gpd.GeoDataFrame, *, metric_crs: str, tolerance_m: float) -> None:
        self._areas = areas.set_index("code", drop=False).rename_axis(None)
        self._metric_crs = metric_crs
        self._tolerance_m = tolerance_m
        self._grown: dict[str, shapely.Geometry] = {}

    def territory(self, key: KeyRecord) -> Territory:
        """The territory of a key: its area, or the country for roles bound to none."""
        if key.area_code is None:
            return COUNTRY
        if key.area_code not in self._areas.index:
            raise NotPermitted(f"this key's area {key.area_code} is not part of this world")
        row = self._areas.loc[key.area_code]
        return Territory(row["level"], key.area_code, row["name"])

    def check_zone(self, key: KeyRecord, zone: shapely.Geometry) -> None:
        """Raise unless the key may resolve ``zone`` (EPSG:4326 geometry).

        Raises
        ------
        NotPermitted
            The key's role resolves no zones.
        OutsideJurisdiction
            The zone is not covered by the key's territory grown by the tolerance.
        """
        require(key, Action.RESOLVE)
        if key.area_code is None:
            return
        territory = self.territory(key)
        if not shapely.covered_by(zone, self._grown_area(key.area_code)):
            raise OutsideJurisdiction(
                f"the zone reaches beyond this key's jurisdiction, {territory}"
            )

    def check_area(self, key: KeyRecord, code: str, action: Action) -> None:
        """Raise unless the key may do ``action`` for the known area ``code``.

        An area is within a province's territory when it is the province or one of its
        municipalities, and within a municipality's when it is that municipality.
        """
        require(key, action)
        if key.area_code is None:
            return
        territory = self.territory(key)
        if key.area_code != code and self._areas.at[code, "province_code"] != key.area_code:
            raise OutsideJurisdiction(
                f"area {code} lies outside this key's jurisdiction, {territory}"
            )

    def _grown_area(self, code: str) -> shapely.Geometry:
        """Area ``code`` grown by the tolerance, prepared; built on first use."""
        grown = self._grown.get(code)
        if grown is None:
            area = gpd.GeoSeries([self._areas.at[code, "geometry"]], crs="EPSG:4326")
            metric = area.to_crs(self._metric_crs).buffer(self._tolerance_m)
            grown = metric.to_crs("EPSG:4326").iloc[0]
            shapely.prepare(grown)
            self._grown[code] = grown
        return grown
