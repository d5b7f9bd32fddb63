"""Operators' presence counts simulated from the world's truth.

What the three operators would deliver per cell and time bucket: the devices attached, split by
the devices' home country (MCC). Per bucket:

1. devices: each person carries 0-2 devices, each on one operator (residents by market share,
   foreign visitors roaming on any of the three); drawn from a hash of the person id and the
   seed, so a person keeps the same devices and operators in every bucket;
2. switched on: each device is off (or out of reach) with the hour's share, more at night;
3. attachment by signal and load (:class:`cells.synth.attachment.Attachment`);
4. counts per (cell, home MCC), then operator noise: a factor per cell and bucket.

The parameters below are the simulation's ground truth. The population estimator must not use
them: it calibrates devices per person from the data, as it would with a real operator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.special import ndtri

from cells.identity import MCC_BELGIUM, OPERATORS
from cells.synth.attachment import Attachment, lattice_keys

TIMEZONE = "Europe/Brussels"

CHILD_SHARE = 0.17
"""Residents under 15 (Statbel, 1 January 2020: 16.9%). The truth has no ages, so each
resident's age class is drawn from their id."""

ELDERLY_SHARE = 0.19
"""Residents aged 65 and over (Statbel, 1 January 2020: 19.3%)."""

DEVICES = {
    "child": (0.55, 0.45, 0.00),  # most under-10s have no phone, most 10-14s have one
    "adult": (0.03, 0.77, 0.20),  # one in five carries a second (work) phone or SIM
    "elderly": (0.22, 0.74, 0.04),  # about a fifth of the over-65s have no mobile
    "visitor": (0.05, 0.85, 0.10),  # travellers nearly all carry one phone
}
"""Probability of 0, 1 and 2 devices per person by class; resident mean 0.98 devices, in line
with Belgium's ~1.0 active mobile voice SIM per inhabitant (BIPT market observatory)."""

MARKET_SHARE = {"01": 0.40, "10": 0.30, "20": 0.30}
"""Residents' devices per operator (BIPT: Proximus ~40%, Orange ~30%, Telenet/BASE ~30% of
active mobile SIMs)."""

ROAMING_SHARE = {"01": 1 / 3, "10": 1 / 3, "20": 1 / 3}
"""Foreign devices roam on any of the three networks alike (each has roaming agreements with
most foreign operators)."""

OFF_SHARE_BY_HOUR = (
    (0.15,) * 6  # 00-05: phones switched off or in flight mode overnight
    + (0.08,)  # 06: waking up
    + (0.04,) * 16  # 07-22: day: flat batteries, no reception indoors, flight mode
    + (0.08,)  # 23: going to bed
)
"""Share of devices not counted (switched off or unreachable) by local hour of the bucket."""

NOISE_SD = 0.04
"""Standard deviation of the per-cell, per-bucket factor on the counts (log scale): late
location updates, dual-SIM duplicates and counting windows make operators' counts drift."""

_SALT_DEVICES, _SALT_OPERATOR, _SALT_BUCKET, _SALT_NOISE = range(4)
_MASK = (1 << 64) - 1


def simulate_presence(
    buckets: Iterable[tuple[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    cells: gpd.GeoDataFrame,
    seed: int,
    on_attached: Callable[[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
    | None = None,
) -> pd.DataFrame:
    """Devices attached per cell, time bucket and home MCC, simulated from the truth.

    Parameters
    ----------
    buckets : iterable of (time, person_id, lon, lat, home_mcc)
        One item per time bucket, consumed one at a time: the bucket start (tz-aware
        ``pandas.Timestamp``), and per person present (one row each) the id (int64), position
        (lon/lat degrees, EPSG:4326, float64) and home MCC (int16; 206 for residents).
    cells : geopandas.GeoDataFrame
        The world's cells (``cells.parquet`` schema, from
        :func:`cells.synth.network.synthesize_cells`).
    seed : int
        The same truth, cells and seed give the same counts.
    on_attached : callable, optional
        Called once per bucket, before its counts, with ``(time, person_id, slot, home_mcc,
        cell)``: per switched-on device, its person's id (int64), slot (int8: first or second
        device), home MCC (int16) and cell (int64 row number in ``cells``). The event feed
        (:mod:`cells.feeds`) is written from these, so that it and the counts agree by design.

    Returns
    -------
    pandas.DataFrame
        The ``presence.parquet`` schema: ``cell_id`` (str), ``operator`` (str MNC), ``time``
        (bucket start, tz Europe/Brussels), ``home_mcc`` (int16), ``devices`` (int32); one row
        per (cell, time, home MCC) with devices > 0 plus a home MCC 206 row for every
        (cell, time). Sorted by time, cell (in ``cells`` order) and home MCC.

    Raises
    ------
    ValueError
        If a bucket's time is naive or repeated, its arrays differ in length, a position is
        not finite, or the cells lack a column or an operator.
    """
    attachment = Attachment(cells)
    cell_id = cells["cell_id"].to_numpy(dtype=object)
    operator = cells["operator"].to_numpy(dtype=object)
    seen: set[pd.Timestamp] = set()
    carried: tuple = (None, None, None)
    frames = []
    for number, bucket in enumerate(buckets):
        time, person_id, lon, lat, home_mcc = _checked(number, bucket, seen)
        if not (
            np.array_equal(person_id, carried[0]) and np.array_equal(home_mcc, carried[1])
        ):  # the same people as the last bucket (a national world) carry the same devices
            carried = (person_id, home_mcc, devices(person_id, home_mcc, seed))
        device_person, device_slot, device_op = carried[2]
        # one hash per device and bucket: whether it is on, and where it attaches
        u = uniform(
            person_id[device_person], seed, (int(time.timestamp()), device_slot, _SALT_BUCKET)
        )
        off = OFF_SHARE_BY_HOUR[time.hour]
        on = u >= off
        device_person, device_slot, device_op = device_person[on], device_slot[on], device_op[on]
        u = (u[on] - off) / (1 - off)
        point, keys = pd.factorize(lattice_keys(lon, lat)[device_person])
        row = attachment.points(keys)[point] * len(OPERATORS) + device_op
        cell = attachment.draw(row, u)
        if on_attached is not None:
            on_attached(time, person_id[device_person], device_slot, home_mcc[device_person], cell)
        frames.append(_counts(time, cell, home_mcc[device_person], cell_id, operator, seed))
    if not frames:
        return pd.DataFrame(
            {
                "cell_id": np.empty(0, object),
                "operator": np.empty(0, object),
                "time": pd.DatetimeIndex([], dtype=f"datetime64[ns, {TIMEZONE}]"),
                "home_mcc": np.empty(0, np.int16),
                "devices": np.empty(0, np.int32),
            }
        )
    return pd.concat(frames, ignore_index=True)


def devices(
    person_id: np.ndarray, home_mcc: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The devices people carry: the same for a person in every bucket.

    Parameters
    ----------
    person_id : numpy.ndarray of int64, shape ``(n,)``
    home_mcc : numpy.ndarray of int16, shape ``(n,)``
    seed : int

    Returns
    -------
    person, slot, operator : numpy.ndarray of int, shape ``(m,)``
        Per device: index of its person in the input, slot (0 or 1: first or second device)
        and operator (index into :data:`cells.identity.OPERATORS`).
    """
    resident = home_mcc == MCC_BELGIUM
    # one uniform picks the class, and rescaled within the class, the number of devices
    u = uniform(person_id, seed, (0, 0, _SALT_DEVICES))
    bounds = np.array([0.0, CHILD_SHARE, 1.0 - ELDERLY_SHARE, 1.0])
    klass = (u >= bounds[1]).astype(np.int64) + (u >= bounds[2])
    v = (u - bounds[klass]) / np.diff(bounds)[klass]
    klass[~resident], v[~resident] = 3, u[~resident]
    table = np.array([DEVICES[k] for k in ("child", "adult", "elderly", "visitor")])
    cum = np.cumsum(table, axis=1)
    count = (v >= cum[klass, 0]).astype(np.int64) + (v >= cum[klass, 1])
    person = np.concatenate([np.flatnonzero(count >= 1), np.flatnonzero(count >= 2)])
    person = person.astype(np.int32 if person_id.size < 2**31 else np.int64)
    slot = np.repeat(np.array([0, 1], np.int8), [(count >= 1).sum(), (count >= 2).sum()])
    market = np.cumsum([MARKET_SHARE[o] for o in OPERATORS])[:-1]
    roaming = np.cumsum([ROAMING_SHARE[o] for o in OPERATORS])[:-1]
    edges = np.where(resident[person, None], market, roaming)
    w = uniform(person_id[person], seed, (0, slot, _SALT_OPERATOR))
    op = (w[:, None] >= edges).sum(axis=1, dtype=np.int8)
    return person, slot, op


def _checked(number: int, bucket: tuple, seen: set) -> tuple:
    try:
        time, person_id, lon, lat, home_mcc = bucket
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bucket {number} must be (time, person_id, lon, lat, home_mcc)") from exc
    if not isinstance(time, pd.Timestamp) or time.tz is None:
        raise ValueError(f"bucket {number}: time {time!r} must be a timezone-aware Timestamp")
    time = time.tz_convert(TIMEZONE)
    if time in seen:
        raise ValueError(f"bucket {number}: time {time.isoformat()} is given twice")
    seen.add(time)
    arrays = [np.asarray(a) for a in (person_id, lon, lat, home_mcc)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        shapes = [a.shape for a in arrays]
        raise ValueError(f"bucket {number}: person_id, lon, lat, home_mcc shapes differ {shapes}")
    person_id, lon, lat, home_mcc = arrays
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    if bad.any():
        raise ValueError(
            f"bucket {number}: {int(bad.sum())} position(s) are not finite (first at row "
            f"{int(np.argmax(bad))})"
        )
    return time, person_id.astype(np.int64), lon, lat, home_mcc.astype(np.int16)


def _counts(
    time: pd.Timestamp,
    cell: np.ndarray,
    mcc: np.ndarray,
    cell_id: np.ndarray,
    operator: np.ndarray,
    seed: int,
) -> pd.DataFrame:
    """Rows of one bucket: a home-MCC row for every cell, roaming rows where devices > 0."""
    mccs, which = np.unique(np.concatenate([[MCC_BELGIUM], mcc]), return_inverse=True)
    which = which[1:]
    n = cell_id.size
    count = np.bincount(cell * mccs.size + which, minlength=n * mccs.size).reshape(n, mccs.size)
    u = uniform(np.arange(n, dtype=np.int64), seed, (int(time.timestamp()), 0, _SALT_NOISE))
    factor = np.exp(NOISE_SD * ndtri(u) - NOISE_SD**2 / 2)
    count = np.rint(count * factor[:, None]).astype(np.int32)
    home = mccs == MCC_BELGIUM
    keep = (count > 0) | home[None, :]
    c, m = np.nonzero(keep)
    return pd.DataFrame(
        {
            "cell_id": cell_id[c],
            "operator": operator[c],
            "time": pd.DatetimeIndex(np.full(c.size, time.value))
            .tz_localize("UTC")
            .tz_convert(TIMEZONE),
            "home_mcc": mccs[m].astype(np.int16),
            "devices": count[c, m],
        }
    )


def uniform(person_id: np.ndarray, seed: int, salt: tuple) -> np.ndarray:
    """Uniform numbers in [0, 1) from :func:`hash64` of id, seed and salt."""
    return (hash64(person_id, seed, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def hash64(person_id: np.ndarray, seed: int, salt: tuple) -> np.ndarray:
    """A 64-bit hash (splitmix64, uint64) of id, seed and salt.

    ``salt`` is ``(int, int or int array, int)``: the same arguments give the same numbers,
    whatever the order or number of the other ids. Its last part tells uses apart: this
    module's kinds are 0-3.
    """
    stamp, slot, kind = salt
    key = (
        seed * 0x9E3779B97F4A7C15 + stamp * 0xD1B54A32D192ED03 + kind * 0x94D049BB133111EB
    ) & _MASK
    z = np.asarray(person_id).astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    z = z + np.uint64(key) + np.asarray(slot, dtype=np.uint64) * np.uint64(0x2545F4914F6CDD1D)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
