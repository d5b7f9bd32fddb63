"""Where each person is at each time bucket of one weekday (the simulation's ground truth).

At 03:00 everybody is at home (visitors at their accommodation). At 08:00 commuters are at
home, on the way (a point along the trip, with a detour) or already there. At 14:00 workers,
pupils and students are at their destination and others at home or out nearby. At 20:00 most
are home and some are out in a town centre.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import shapely

from geodata.synth.geography import Geography, Kernel
from geodata.synth.people import DAY_VISITOR, OTHER, PUPIL, STUDENT, VISITOR, WORKER, People
from geodata.synth.sampling import M_PER_DEG_LAT, M_PER_DEG_LON, jitter, step_rng

DAY = "2024-03-12"
"""The simulated weekday: a Tuesday in school term."""
TIMEZONE = "Europe/Brussels"
BUCKET_HOURS = (3, 8, 14, 20)
BUCKET_LENGTH = pd.Timedelta(hours=1)

HOME, TRANSIT, DEST, OUT, LEISURE = range(5)

# P(state) per bucket hour and role (rows: WORKER, PUPIL, STUDENT, OTHER, VISITOR, DAY_VISITOR;
# columns: HOME, TRANSIT, DEST, OUT, LEISURE). Teleworkers count as OTHER; day visitors at HOME
# are abroad, outside the world.
STATES = {
    3: [[1, 0, 0, 0, 0]] * 6,
    8: [
        [0.30, 0.40, 0.30, 0.00, 0.00],
        [0.20, 0.45, 0.35, 0.00, 0.00],
        [0.45, 0.35, 0.20, 0.00, 0.00],
        [0.93, 0.00, 0.00, 0.07, 0.00],
        [0.75, 0.00, 0.25, 0.00, 0.00],
        [0.50, 0.00, 0.50, 0.00, 0.00],
    ],
    14: [
        [0.04, 0.00, 0.96, 0.00, 0.00],
        [0.04, 0.00, 0.96, 0.00, 0.00],
        [0.20, 0.00, 0.70, 0.00, 0.10],
        [0.72, 0.00, 0.00, 0.28, 0.00],
        [0.15, 0.00, 0.85, 0.00, 0.00],
        [0.00, 0.00, 1.00, 0.00, 0.00],
    ],
    20: [
        [0.78, 0.02, 0.05, 0.00, 0.15],
        [0.93, 0.00, 0.00, 0.00, 0.07],
        [0.70, 0.00, 0.00, 0.00, 0.30],
        [0.88, 0.00, 0.00, 0.00, 0.12],
        [0.40, 0.00, 0.60, 0.00, 0.00],
        [0.70, 0.00, 0.30, 0.00, 0.00],
    ],
}

# Errands near home (shops, doctor: any place) and evening outings (town centres, favouring
# the larger ones).
ERRANDS = Kernel(local_km=2.0, regional_km=6.0, local_share=0.7)
OUTINGS = Kernel(local_km=3.0, regional_km=12.0, local_share=0.5)

SIGHTS_M = 700.0
"""Spread of visitors around the centre of the place they visit, metres."""


def bucket_times() -> list[pd.Timestamp]:
    """Start of each time bucket, tz Europe/Brussels."""
    return [pd.Timestamp(f"{DAY} {h:02d}:00", tz=TIMEZONE) for h in BUCKET_HOURS]


class Day:
    """Positions of everybody through the simulated day.

    Parameters
    ----------
    people : People
    geo : Geography
    extent : shapely geometry or None
        The world's extent (EPSG:4326): positions outside it are not in the world (regional
        worlds); None keeps every position (national world).
    seed : int
    """

    def __init__(self, people: People, geo: Geography, extent, seed: int) -> None:
        self.people, self.geo, self.seed = people, geo, seed
        self.extent = extent
        if extent is not None:
            shapely.prepare(extent)
        pop = geo.places["population"].to_numpy(np.float64)
        self.errands = geo.place_gravity(pop, ERRANDS)
        self.outings = geo.place_gravity(pop**1.3, OUTINGS)
        self.spread_m = 150.0 + 0.8 * np.sqrt(pop)
        self.behaviour = np.where(people.telework, OTHER, people.role)

    def buckets(
        self,
    ) -> Iterator[tuple[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(time, person_id, lon, lat, home_mcc)`` per bucket, for the people inside
        the world at that time (lon/lat in degrees, EPSG:4326): not day visitors still abroad,
        nor, in a regional world, people outside its extent."""
        for time, hour in zip(bucket_times(), BUCKET_HOURS, strict=True):
            lon, lat = self.positions(hour)
            inside = np.isfinite(lon)
            if self.extent is not None:
                inside &= shapely.contains_xy(self.extent, lon, lat)
            yield (
                time,
                self.people.person_id[inside],
                lon[inside],
                lat[inside],
                self.people.home_mcc[inside],
            )

    def positions(self, hour: int) -> tuple[np.ndarray, np.ndarray]:
        """Everybody's position at ``hour`` (degrees; NaN for day visitors abroad)."""
        rng = step_rng(self.seed, f"day-{hour}")
        p = self.people
        cum = np.cumsum(np.asarray(STATES[hour], dtype=np.float64), axis=1)
        state = np.empty(len(p), dtype=np.int8)
        for role in (WORKER, PUPIL, STUDENT, OTHER, VISITOR, DAY_VISITOR):
            who = np.flatnonzero(self.behaviour == role)
            state[who] = np.searchsorted(
                cum[role], rng.random(len(who)) * cum[role, -1], side="right"
            )
        lon, lat = p.home_lon.copy(), p.home_lat.copy()

        at = np.flatnonzero(state == DEST)
        lon[at], lat[at] = p.dest_lon[at], p.dest_lat[at]
        sights = at[p.role[at] >= VISITOR]
        lon[sights], lat[sights] = jitter(lon[sights], lat[sights], SIGHTS_M, rng)

        on_way = np.flatnonzero(state == TRANSIT)
        lon[on_way], lat[on_way] = _along(
            p.home_lon[on_way], p.home_lat[on_way], p.dest_lon[on_way], p.dest_lat[on_way], rng
        )
        for kind, choice in ((OUT, self.errands), (LEISURE, self.outings)):
            who = np.flatnonzero(state == kind)
            place = choice.choose(p.municipality[who].astype(np.int64), rng) % len(self.geo.places)
            lon[who], lat[who] = jitter(
                self.geo.places["lon"].to_numpy()[place],
                self.geo.places["lat"].to_numpy()[place],
                self.spread_m[place],
                rng,
            )
        return lon, lat


def _along(lon0, lat0, lon1, lat1, rng: np.random.Generator):
    """A point somewhere along each trip, off the straight line by a detour (5 % of the trip
    length plus 30 m, Gaussian)."""
    f = 0.1 + 0.8 * rng.random(len(lon0))
    lon, lat = lon0 + f * (lon1 - lon0), lat0 + f * (lat1 - lat0)
    length_m = np.hypot(
        (lon1 - lon0) * M_PER_DEG_LON * np.cos(np.radians(lat0)), (lat1 - lat0) * M_PER_DEG_LAT
    )
    return jitter(lon, lat, 30.0 + 0.05 * length_m, rng)
