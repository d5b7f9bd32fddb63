"""Per-operator index of cell coverage polygons: the cells a zone touches, exact and fast.

Cells are held as parallel arrays sorted by operator then cell id, so one operator's
cells are one contiguous range of positions and a selection is a sorted array of
positions, never a list of objects.

:meth:`CellIndex.intersecting` answers PostGIS ``ST_Intersects(coverage, zone)`` on
EPSG:4326 coordinates as they are (touching counts) without a GEOS call for almost every
cell:

1. candidates: cells whose bounding box meets the zone's (a packed tree of the cells'
   boxes in their spatial order, exact float compares);
2. a compiled pass (:func:`cells.predicates.intersecting`) first rasters the zone over
   its box (:func:`cells.predicates.zone_raster`: each raster cell wholly inside, wholly
   outside or on the boundary, decided exactly) and settles most candidates from their
   box alone: a box over outside raster cells only is apart; a square known to lie in
   the cell (:attr:`CellIndex._inner_half`) meeting an inside raster cell intersects;
   the others are decided from the zone's boundary segments near the cell's box against
   the cell's edges (a crossing: it intersects), then from a point lying in the cell
   (inside the zone: it intersects; outside: apart, unless a zone ring lies inside the
   cell), with orientation signs trusted only far above their rounding error;
3. the few cells it cannot decide (touching or collinear configurations, multi-part
   cells) get GEOS's exact ``intersects`` against the prepared zone.

The compiled pass reads the cells in a spatial order (a Hilbert curve; its own copy of the
arrays, each cell's edges in one block), so that one zone's cells come from nearby
memory, and asks for the edges of the cells it will test next while it tests one. The
result equals GEOS (and PostGIS) on every zone, touching cases included.
The work grows with the zone's boundary and its result, not with the number of cells in
the country.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from cells.predicates import (
    RASTER_PER_CELL,
    box_query,
    box_tree,
    cell_blocks,
    intersecting,
    zone_wkb,
)

__all__ = ["CellIndex"]


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Coverage polygons of mobile cells, indexed for zone queries.

    Build with :meth:`from_frame`. Positions ``0..n-1`` refer to cells sorted by
    ``operator`` then ``cell_id``; ``operator_ranges`` gives each operator's range.

    Attributes
    ----------
    cell_id, operator : ndarray of fixed-width str, shape (n,)
        Cell id (``"{mcc}-{mnc}-{node}-{cid}"``) and operator MNC (``"01"``): NumPy
        unicode arrays, so that taking the ids of a selection touches no Python objects.
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
            cell_id=frame["cell_id"].to_numpy(dtype=str),
            operator=frame["operator"].to_numpy(dtype=str),
            geometry=geometry,
            columns=columns,
        )

    def __len__(self) -> int:
        return len(self.cell_id)

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
        """Build the compiled pass's arrays now rather than at the first query."""
        _ = self._cells, self.operator_ranges
        return self

    @cached_property
    def _every_operator(self) -> np.ndarray:
        return np.ones(len(self.operator_ranges), dtype=bool)

    def _allowed(self, operators: list[str] | None) -> np.ndarray:
        """Per operator code (rank in :attr:`operator_ranges`), whether it is wanted."""
        if operators is None:
            return self._every_operator
        return np.isin(list(self.operator_ranges), operators)

    def candidates(self, zone: BaseGeometry, operators: list[str] | None = None) -> np.ndarray:
        """Sorted positions (int64) of the cells whose bounding box meets the zone's."""
        box, nodes, level_at, operator, *_, order, _ = self._cells
        found = box_query(
            box, nodes, level_at, operator, self._allowed(operators), *shapely.bounds(zone)
        )
        return np.sort(order[found])

    @cached_property
    def _order(self) -> np.ndarray:
        """Positions along a Hilbert curve through the centres of the cells' boxes: the
        compiled pass reads the cells of one zone from nearby memory, and each node of its
        box tree bounds a compact group."""
        bounds = shapely.bounds(self.geometry)
        centres = shapely.points((bounds[:, :2] + bounds[:, 2:]) / 2)
        distance = gpd.GeoSeries(centres).hilbert_distance(level=16).to_numpy()
        return np.argsort(distance, kind="stable")

    @cached_property
    def _inner_half(self) -> np.ndarray:
        """Half side (degrees) of a square centred on each cell's :attr:`point` and lying
        in the cell, shape (n,): inscribed in the circle reaching the cell's boundary,
        each checked to be covered (0, the point alone, where rounding says otherwise)."""
        point = self.point
        reach = shapely.distance(shapely.points(point), shapely.boundary(self.geometry))
        half = reach / np.sqrt(2) * (1 - 1e-9)
        square = shapely.box(
            point[:, 0] - half, point[:, 1] - half, point[:, 0] + half, point[:, 1] + half
        )
        half[~shapely.covers(self.geometry, square)] = 0.0
        return half

    @cached_property
    def _cells(self) -> tuple:
        """Cells in :attr:`_order` as flat arrays for :func:`cells.predicates.intersecting`."""
        order = self._order
        geometry = self.geometry[order]
        rings, owner = shapely.get_rings(geometry, return_index=True)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        ring_start = np.concatenate(([0], np.cumsum(np.bincount(ring, minlength=len(rings)))))
        cell_rings = np.concatenate(([0], np.cumsum(np.bincount(owner, minlength=len(self)))))
        simple = shapely.get_type_id(geometry) == shapely.GeometryType.POLYGON
        block_at, blocks = cell_blocks(
            np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]), ring_start, cell_rings
        )
        bounds = shapely.bounds(geometry)
        box = np.column_stack((bounds, self.point[order], self._inner_half[order]))
        nodes, level_at = box_tree(box)
        operator = np.unique(self.operator, return_inverse=True)[1][order]
        # Zone raster cells: a fraction of the median cell's box, so that whole raster
        # cells settle most cells (:func:`cells.predicates.zone_raster`).
        size = np.median(bounds[:, 2:] - bounds[:, :2], axis=0) if len(self) else np.ones(2)
        step = np.maximum(size, 1e-9) / RASTER_PER_CELL
        return box, nodes, level_at, operator, simple, block_at, blocks, order, step

    def intersecting(
        self, zone: BaseGeometry | bytes, operators: list[str] | None = None
    ) -> np.ndarray:
        """Positions of the cells whose coverage intersects the zone (touching counts).

        Parameters
        ----------
        zone : shapely Polygon or MultiPolygon, or bytes
            The zone in EPSG:4326 (lon, lat degrees), or its
            :func:`cells.predicates.zone_wkb` (a shapely geometry is then built only for
            the rare cells the compiled pass leaves to GEOS).
        operators : list of str, optional
            Operator MNCs to keep; all operators when omitted.

        Returns
        -------
        ndarray of int64, shape (k,)
            Sorted positions, equal to the cells for which PostGIS
            ``ST_Intersects(coverage, zone)`` is true.
        """
        wkb = zone if isinstance(zone, bytes) else zone_wkb(zone)
        found, undecided = intersecting(self._cells, self._allowed(operators), wkb)
        if undecided.size:
            geometry = shapely.from_wkb(wkb)
            shapely.prepare(geometry)
            met = undecided[shapely.intersects(geometry, self.geometry[undecided])]
            found = np.sort(np.concatenate((found, met)))
        return found
