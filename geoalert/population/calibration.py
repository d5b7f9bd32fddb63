"""Devices to people: calibrated on the world's own data, never on its simulation.

The reference geography says how many people live in the world: the GHSL 2020 population grid
(``geodata.priors``) over the world's municipalities. At night (the bucket nearest 03:00 local
time) they are at home, in the world, so the domestic devices counted then divided by that
population is the number of devices per person the operators see at night (people with two
phones or none, phones switched off).

By day more phones are on, but the residents are no fixed reference any more: a world cut out
of a country gains commuters from outside it. Foreign visitors are: they stay in the world
through the day. So the share of phones on at each hour, relative to the night, is read from
the roaming devices: devices per person in bucket t = night ratio x roaming devices in t /
roaming devices at night. Operator market shares are the operators' shares of the domestic
devices, bucket by bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

MOLLWEIDE = "ESRI:54009"


def residents_in(municipalities, grid: pd.DataFrame, cell_m: float = 1000.0) -> float:
    """People living in the union of some municipalities, from a population grid.

    Each grid cell's population is taken as spread evenly over the cell and counted in
    proportion to the part of the cell inside the municipalities.

    Parameters
    ----------
    municipalities : GeoSeries or GeoDataFrame with a CRS
        The world's municipalities.
    grid : DataFrame with ``x``, ``y`` (cell centres, metres in World Mollweide) and ``pop``
    cell_m : float
        Side of a grid cell in metres.

    Returns
    -------
    float
        Residents, people.
    """
    land = shapely.union_all(np.asarray(municipalities.to_crs(MOLLWEIDE).geometry.values))
    half = cell_m / 2
    x, y = grid["x"].to_numpy(float), grid["y"].to_numpy(float)
    xmin, ymin, xmax, ymax = land.bounds
    near = (x + half > xmin) & (x - half < xmax) & (y + half > ymin) & (y - half < ymax)
    boxes = shapely.box(x[near] - half, y[near] - half, x[near] + half, y[near] + half)
    shapely.prepare(land)
    inside = shapely.contains(land, boxes)
    share = inside.astype(float)
    edge = ~inside & shapely.intersects(land, boxes)
    share[edge] = shapely.area(shapely.intersection(boxes[edge], land)) / cell_m**2
    return float((grid["pop"].to_numpy(float)[near] * share).sum())


@dataclass(frozen=True)
class Calibration:
    """How many devices one person stands for, per bucket and operator.

    Attributes
    ----------
    residents : float
        People living in the world (reference geography).
    devices_per_person : float64 array, shape (t,)
        Devices per person present, per bucket: domestic devices (MCC 206, all operators) per
        resident at night, scaled by the roaming devices relative to the night.
    operator_share : float64 array, shape (t, n_operators)
        Each operator's share of the domestic devices, per bucket.
    roaming_share : float64 array, shape (t, n_operators)
        Each operator's share of the roaming devices, per bucket.
    """

    residents: float
    devices_per_person: np.ndarray
    operator_share: np.ndarray
    roaming_share: np.ndarray

    @classmethod
    def from_counts(
        cls,
        domestic: np.ndarray,
        roaming: np.ndarray,
        operator: np.ndarray,
        n_operators: int,
        residents: float,
        night: int = 0,
    ) -> Calibration:
        """Calibrate from devices per bucket and cell.

        Parameters
        ----------
        domestic, roaming : arrays, shape (t, n_cells)
            Domestic and roaming devices per bucket and cell.
        operator : int array, shape (n_cells,)
            Operator index of each cell.
        n_operators : int
        residents : float
            People living in the world, > 0.
        night : int
            The bucket in which residents are at home.
        """
        if not residents > 0:
            raise ValueError(f"the world's resident population must be positive, got {residents}")

        def per_operator(counts):
            return np.stack(
                [np.bincount(operator, weights=row, minlength=n_operators) for row in counts]
            )

        home, away = per_operator(domestic), per_operator(roaming)
        total = home.sum(axis=1)
        if (total <= 0).any():
            raise ValueError("a presence bucket counts no domestic device at all")
        away_total = away.sum(axis=1, keepdims=True)
        away_share = np.divide(away, away_total, out=np.zeros_like(away), where=away_total > 0)
        away_all = away_total[:, 0]
        awake = away_all / away_all[night] if away_all[night] > 0 else np.ones(len(total))
        per_person = total[night] / residents * awake
        return cls(float(residents), per_person, home / total[:, None], away_share)


def night_bucket(times: pd.DatetimeIndex, hour: float = 3.0) -> int:
    """The bucket whose start is nearest ``hour`` o'clock local time (people at home)."""
    local = times.hour + times.minute / 60
    gap = np.abs((np.asarray(local) - hour + 12) % 24 - 12)
    return int(np.argmin(gap))
