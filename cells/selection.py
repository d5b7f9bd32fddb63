"""Selection policies: which cells of an operator broadcast to a zone, and what they miss.

- ``intersects`` (default): every cell whose coverage touches the zone (PostGIS
  ``ST_Intersects``), the widest reach;
- ``overlap>=f``: cells with at least the share ``f`` (0 < f <= 1) of their coverage area
  inside the zone (areas in a metric CRS);
- ``centroid``: cells whose best-server point (:attr:`CellIndex.point`) lies in the zone.

For any selection, :func:`coverage_gaps` gives the overshoot (area the selected cells cover
outside the zone) and the undershoot (area of the zone no selected cell covers), and
:func:`coverage_gap_shapes` their shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cells.index import CellIndex

__all__ = ["Policy", "coverage_gap_shapes", "coverage_gaps", "select"]

_OVERLAP = re.compile(r"^overlap\s*>=\s*([0-9.eE+-]+)$")


@dataclass(frozen=True)
class Policy:
    """A selection policy: ``kind`` in {"intersects", "overlap", "centroid"}, ``fraction``
    the least share of coverage inside the zone for ``overlap``."""

    kind: str
    fraction: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Policy:
        """``"intersects"``, ``"centroid"`` or ``"overlap>=f"`` with 0 < f <= 1.

        Raises
        ------
        ValueError
            Naming the accepted forms.
        """
        if not isinstance(text, str):
            raise ValueError(f"a policy is a string, got {type(text).__name__}")
        return _parse(cls, text)

    def __str__(self) -> str:
        return f"overlap>={self.fraction:g}" if self.kind == "overlap" else self.kind


@lru_cache(maxsize=64)  # a request names its policy again each time: read it once
def _parse(cls: type[Policy], text: str) -> Policy:
    text = text.strip()
    if text in ("intersects", "centroid"):
        return cls(text)
    match = _OVERLAP.match(text)
    if match:
        try:
            fraction = float(match.group(1))
        except ValueError:
            fraction = -1.0
        if 0 < fraction <= 1:
            return cls("overlap", fraction)
        raise ValueError(f"policy {text!r}: the overlap share must be in (0, 1]")
    raise ValueError(
        f"unknown policy {text!r}: expected 'intersects', 'centroid' or 'overlap>=f' "
        "with 0 < f <= 1"
    )


def select(
    index: CellIndex,
    zone: BaseGeometry | bytes,
    policy: Policy,
    operators: list[str] | None = None,
    *,
    metric: np.ndarray | None = None,
    zone_metric: BaseGeometry | None = None,
) -> np.ndarray:
    """Positions (sorted int64) of the cells the policy selects for the zone.

    Parameters
    ----------
    index : CellIndex
    zone : shapely Polygon or MultiPolygon, or bytes
        EPSG:4326 (lon, lat degrees), or its :func:`cells.predicates.zone_wkb`.
    policy : Policy
    operators : list of str, optional
        Operator MNCs to keep; all when omitted.
    metric, zone_metric : optional
        Cell coverages (shape (n,)) and the zone in one metric CRS (metres); needed by
        ``overlap``.
    """
    if policy.kind == "centroid":
        geometry = shapely.from_wkb(zone) if isinstance(zone, bytes) else zone
        shapely.prepare(geometry)
        found = index.candidates(geometry, operators)
        point = index.point[found]
        return found[shapely.intersects_xy(geometry, point[:, 0], point[:, 1])]
    found = index.intersecting(zone, operators)
    if policy.kind == "intersects":
        return found
    if metric is None or zone_metric is None:
        raise ValueError("the overlap policy needs metric cell and zone geometries")
    cells = metric[found]
    share = shapely.area(shapely.intersection(cells, zone_metric)) / shapely.area(cells)
    return found[share >= policy.fraction]


def coverage_gap_shapes(
    metric: np.ndarray, positions: np.ndarray, zone_metric: BaseGeometry
) -> tuple[BaseGeometry, BaseGeometry]:
    """Overshoot and undershoot shapes of the selected cells against the zone.

    Parameters
    ----------
    metric : ndarray of shapely geometry, shape (n,)
        Cell coverages in a metric CRS (metres).
    positions : ndarray of int64
        The selected cells.
    zone_metric : shapely geometry
        The zone in the same CRS.

    Returns
    -------
    overshoot, undershoot : shapely geometry
        In the same CRS: what the selection covers outside the zone; what of the zone it
        leaves uncovered (either may be empty).
    """
    if not len(positions):
        return shapely.Polygon(), zone_metric
    covered = shapely.union_all(metric[positions])
    return shapely.difference(covered, zone_metric), shapely.difference(zone_metric, covered)


def coverage_gaps(
    metric: np.ndarray, positions: np.ndarray, zone_metric: BaseGeometry
) -> tuple[float, float]:
    """Overshoot and undershoot in km² of the selected cells against the zone
    (areas of :func:`coverage_gap_shapes`, same parameters).

    Returns
    -------
    overshoot_km2, undershoot_km2 : float
        Area covered by the selection outside the zone; area of the zone it leaves uncovered.
    """
    overshoot, undershoot = coverage_gap_shapes(metric, positions, zone_metric)
    return float(shapely.area(overshoot)) / 1e6, float(shapely.area(undershoot)) / 1e6
