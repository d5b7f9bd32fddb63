"""Devices to people: calibrated on the world's own data, never on its simulation.

The reference geography says how many people live in the world: the GHSL 2020 population grid
(``geodata.priors``) over the world's municipalities. When they are at home they are in the
world, so the domestic devices counted then, divided by that population, is the number of
devices per person the operators see (people with two phones or none, phones switched off).

People are at home at night (asleep, many phones off) and in the evening (awake, phones on).
In the working day the residents are no reference any more: a world cut out of a country gains
commuters from outside it. So each bucket takes the ratio of an at-home bucket: a night bucket
(local hour 0 to 6) or an evening bucket (18 to 24) its own, a bucket of the working day that
of the evening bucket nearest in time of day (phones are on while people are awake). Operator
market shares are the operators' shares of the domestic devices, bucket by bucket.
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
        Domestic devices (MCC 206, all operators) per person, per bucket: per resident in the
        at-home bucket each bucket refers to (:func:`at_home_reference`).
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
        reference: np.ndarray | None = None,
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
        reference : int array, shape (t,), optional
            For each bucket, the at-home bucket whose devices per resident it takes
            (:func:`at_home_reference`); each bucket its own by default.
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
        reference = np.arange(len(total)) if reference is None else np.asarray(reference)
        per_person = total[reference] / residents
        return cls(float(residents), per_person, home / total[:, None], away_share)


#: Local hours at which people are at home: asleep at night, awake in the evening.
NIGHT_HOURS = (0.0, 6.0)
EVENING_HOURS = (18.0, 24.0)


def at_home_reference(times: pd.DatetimeIndex) -> np.ndarray:
    """For each bucket, the bucket in which residents are at home that calibrates it.

    Night and evening buckets refer to themselves; a bucket of the working day refers to the
    evening bucket nearest in time of day, or to itself when there is none.

    Parameters
    ----------
    times : DatetimeIndex, shape (t,), tz-aware bucket starts

    Returns
    -------
    int64 array, shape (t,)
    """
    hour = np.asarray(times.hour + times.minute / 60, dtype=float)
    night = (hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])
    evening = (hour >= EVENING_HOURS[0]) & (hour < EVENING_HOURS[1])
    reference = np.arange(len(hour))
    candidates = np.flatnonzero(evening)
    if len(candidates):
        for i in np.flatnonzero(~(night | evening)):
            gap = np.abs((hour[candidates] - hour[i] + 12) % 24 - 12)
            reference[i] = candidates[np.argmin(gap)]
    return reference
