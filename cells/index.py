"""Per-operator index of cell coverage polygons: the cells a zone touches, exact and fast.

Cells are held as parallel arrays sorted by operator then cell id, so one operator's
cells are one contiguous range of positions and a selection is a sorted array of
positions, never a list of objects.

:meth:`CellIndex.intersecting` answers PostGIS ``ST_Intersects(coverage, zone)`` on
EPSG:4326 coordinates as they are (touching counts) without an exact polygon test for
most cells:

1. candidates: cells whose bounding box meets the zone's (STRtree, exact float compares);
2. one precomputed point per cell, lying in the cell, is tested against the prepared zone:
   when it is in the zone (boundary included) the cell intersects;
3. a cell whose bounding box meets no bounding box of a zone boundary segment lies wholly
   inside or wholly outside the zone, so that point test already decided it;
4. only the remaining cells, near the boundary with their point outside, get GEOS's exact
   ``intersects`` against the prepared zone.

Every step is exact for the given doubles, so the result equals GEOS (and PostGIS) on
every zone, touching cases included. The work grows with the zone's boundary and its
result, not with the number of cells in the country.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["CellIndex"]

#: Vertices per cell tested against the zone before GEOS's exact test: any of them in
#: the zone proves the cell intersects it.
PROBES = 8


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Coverage polygons of mobile cells, indexed for zone queries.

    Build with :meth:`from_frame`. Positions ``0..n-1`` refer to cells sorted by
    ``operator`` then ``cell_id``; ``operator_ranges`` gives each operator's range.

    Attributes
    ----------
    cell_id, operator : ndarray of str, shape (n,)
        Cell id (``"{mcc}-{mnc}-{node}-{cid}"``) and operator MNC (``"01"``).
    geometry : ndarray of shapely Polygon/MultiPolygon, shape (n,)
        Coverage in EPSG:4326 (lon, lat degrees).
    columns : dict of str to ndarray, shape (n,)
        Other per-cell attributes (``operator_name``, ``site_id``, ``radio``, ``band`` ...).
    """

    cell_id: np.ndarray
    operator: np.ndarray
    geometry: np.ndarray
    columns: dict[str, np.ndarray]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CellIndex:
        """Index the cells of a frame with the ``cells.parquet`` schema (EPSG:4326)."""
        order = np.lexsort((frame["cell_id"].to_numpy(), frame["operator"].to_numpy()))
        frame = frame.iloc[order]
        geometry = np.asarray(frame.geometry.values, dtype=object)
        columns = {
            name: frame[name].to_numpy()
            for name in frame.columns
            if name not in ("cell_id", "operator", frame.geometry.name)
        }
        return cls(
            cell_id=frame["cell_id"].to_numpy(dtype=object),
            operator=frame["operator"].to_numpy(dtype=object),
            geometry=geometry,
            columns=columns,
        )

    def __len__(self) -> int:
        return len(self.cell_id)

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geometry)

    @cached_property
    def operator_ranges(self) -> dict[str, tuple[int, int]]:
        """Half-open position range ``(start, stop)`` of each operator's cells."""
        codes, starts = np.unique(self.operator, return_index=True)
        stops = np.append(starts[1:], len(self))
        return {str(c): (int(a), int(b)) for c, a, b in zip(codes, starts, stops, strict=True)}

    @cached_property
    def point(self) -> np.ndarray:
        """A point lying in each cell, shape (n, 2), lon/lat degrees.

        The coverage centroid where the cell covers it (the best-server point of a sector),
        otherwise GEOS's interior point, otherwise (never seen, rounding) the first vertex.
        Each point is checked to lie in its cell, so a zone holding it intersects the cell.
        """
        point = shapely.centroid(self.geometry)
        inside = shapely.intersects(self.geometry, point)
        point[~inside] = shapely.point_on_surface(self.geometry[~inside])
        inside[~inside] = shapely.intersects(self.geometry[~inside], point[~inside])
        xy = shapely.get_coordinates(point)
        for i in np.flatnonzero(~inside):
            xy[i] = shapely.get_coordinates(self.geometry[i])[0]
        return xy

    def warm(self) -> CellIndex:
        """Build the spatial tree and per-cell points now rather than at the first query."""
        _ = self._tree, self.point, self.operator_ranges
        return self

    def candidates(self, zone: BaseGeometry, operators: list[str] | None = None) -> np.ndarray:
        """Positions of the cells whose bounding box meets the zone's, sorted (int64)."""
        found = np.sort(self._tree.query(zone))
        if operators is not None:
            found = found[self._operator_mask(operators)[found]]
        return found

    def _operator_mask(self, operators: list[str]) -> np.ndarray:
        mask = np.zeros(len(self), dtype=bool)
        ranges = self.operator_ranges
        for op in operators:
            if op in ranges:
                mask[slice(*ranges[op])] = True
        return mask

    @cached_property
    def probes(self) -> tuple[np.ndarray, np.ndarray]:
        """:data:`PROBES` vertices of each cell spread along its first ring: lon, lat (n, P)."""
        xy, owner = shapely.get_coordinates(self.geometry, return_index=True)
        counts = np.bincount(owner, minlength=len(self))
        starts = np.cumsum(counts) - counts
        step = np.linspace(0.0, 1.0, PROBES)[None, :] * (counts[:, None] - 2)
        picked = xy[starts[:, None] + np.round(step).astype(np.int64)]
        return np.ascontiguousarray(picked[..., 0]), np.ascontiguousarray(picked[..., 1])

    def intersecting(self, zone: BaseGeometry, operators: list[str] | None = None) -> np.ndarray:
        """Positions of the cells whose coverage intersects the zone (touching counts).

        Parameters
        ----------
        zone : shapely Polygon or MultiPolygon
            The zone in EPSG:4326 (lon, lat degrees). It is prepared in place.
        operators : list of str, optional
            Operator MNCs to keep; all operators when omitted.

        Returns
        -------
        ndarray of int64, shape (k,)
            Sorted positions, equal to the cells for which PostGIS
            ``ST_Intersects(coverage, zone)`` is true.
        """
        shapely.prepare(zone)
        found = self.candidates(zone, operators)
        point = self.point[found]
        hit = shapely.intersects_xy(zone, point[:, 0], point[:, 1])
        rest = found[~hit]
        px, py = self.probes
        probed = shapely.intersects_xy(zone, px[rest], py[rest]).any(axis=1)
        rest = rest[~probed]
        exact = shapely.intersects(zone, self.geometry[rest])
        hit[~hit] = probed
        hit[np.searchsorted(found, rest[exact])] = True
        return found[hit]
