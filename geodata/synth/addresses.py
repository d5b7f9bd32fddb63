"""Address points: counted per grid piece from population and built-up surface, laid out along
short street-like segments (house fronts on both sides), a few scattered like isolated farms."""

from __future__ import annotations

import numpy as np
import pyproj

from geodata.priors import GRID_CRS
from geodata.synth.grid import CELL_M, Pieces, place_inside, sample_in_pieces, to_lonlat
from geodata.synth.sampling import round_cumulative

NATIONAL_ADDRESSES = 5_500_000
"""Addresses in Belgium (CRAB, PICC and UrbIS hold about 5.5 million)."""

RESIDENTIAL_SHARE = 0.85
"""Share of the addresses placed by population; the rest follows the built-up surface (shops,
offices, workshops: where people work rather than live)."""

ADDRESSES_PER_STREET = 18
SCATTERED_SHARE = 0.06
"""Share of the addresses placed anywhere in their piece rather than along a street."""

_TO_GRID = pyproj.Transformer.from_crs("EPSG:4326", GRID_CRS, always_xy=True)


def address_counts(pieces: Pieces, total: int = NATIONAL_ADDRESSES) -> np.ndarray:
    """Addresses per piece: ``total`` shared by population and built-up surface.

    Every piece with residents gets at least one address, so everybody has a home.

    Parameters
    ----------
    pieces : Pieces
        The grid pieces of the whole country (so that a region's count matches the national
        world's).
    total : int
        Addresses in the whole country.

    Returns
    -------
    (len(pieces),) int64
    """
    weight = (
        RESIDENTIAL_SHARE * pieces.pop / pieces.pop.sum()
        + (1 - RESIDENTIAL_SHARE) * pieces.built_m2 / pieces.built_m2.sum()
    )
    counts = round_cumulative(weight * total)
    return np.maximum(counts, resident_counts(pieces) > 0)


def resident_counts(pieces: Pieces) -> np.ndarray:
    """Residents per piece: the grid's population rounded so that each municipality's total is
    within one person of the grid's."""
    return round_cumulative(pieces.pop)


def place_addresses(
    pieces: Pieces, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Address points inside their pieces, clustered along streets.

    Each piece gets ``ceil(count / ADDRESSES_PER_STREET)`` street segments (60-400 m long,
    centred inside the piece, oriented along one of two perpendicular directions of the cell's
    street grid); addresses sit 6-16 m on either side of them. Points that fall outside their
    piece are redrawn uniformly inside it.

    Parameters
    ----------
    pieces : Pieces
    counts : (len(pieces),) int
        Addresses per piece.
    rng : numpy.random.Generator

    Returns
    -------
    piece : (n,) int64
        Piece of each address (non-decreasing).
    lon, lat : (n,) float64
        Degrees, EPSG:4326.
    """
    streets = -(-counts // ADDRESSES_PER_STREET)
    street_piece = np.repeat(np.arange(len(pieces)), streets)
    slon, slat = sample_in_pieces(pieces, street_piece, rng)
    sx, sy = _TO_GRID.transform(slon, slat)
    grid_angle = rng.random(int(pieces.cell.max()) + 1) * (np.pi / 2)
    angle = (
        grid_angle[pieces.cell[street_piece]]
        + (rng.random(len(street_piece)) < 0.5) * (np.pi / 2)
        + rng.normal(0.0, 0.12, len(street_piece))
    )
    length = 60.0 + 340.0 * rng.random(len(street_piece))

    piece = np.repeat(np.arange(len(pieces)), counts)
    first_street = np.concatenate([[0], np.cumsum(streets)[:-1]])
    street = first_street[piece] + (rng.random(len(piece)) * streets[piece]).astype(np.int64)
    along = (rng.random(len(piece)) - 0.5) * length[street]
    across = np.where(rng.random(len(piece)) < 0.5, -1.0, 1.0) * (
        6.0 + 10.0 * rng.random(len(piece))
    )
    cos, sin = np.cos(angle[street]), np.sin(angle[street])
    x = sx[street] + along * cos - across * sin
    y = sy[street] + along * sin + across * cos
    scattered = rng.random(len(piece)) < SCATTERED_SHARE
    x[scattered] = pieces.x0[piece[scattered]] + rng.random(scattered.sum()) * CELL_M
    y[scattered] = pieces.y0[piece[scattered]] + rng.random(scattered.sum()) * CELL_M
    # Street points may leave the cell square: fold them back in (mirror at its sides).
    x = pieces.x0[piece] + _fold(x - pieces.x0[piece])
    y = pieces.y0[piece] + _fold(y - pieces.y0[piece])
    lon, lat = to_lonlat(x, y)
    lon, lat = place_inside(pieces, piece, lon, lat, rng)
    return piece, lon, lat


def _fold(t: np.ndarray) -> np.ndarray:
    """Mirror offsets into [0, CELL_M] (for overshoots smaller than one cell)."""
    t = np.abs(t)
    return np.where(t > CELL_M, 2 * CELL_M - t, t)
