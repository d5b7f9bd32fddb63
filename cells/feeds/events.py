"""When simulated devices show up on the network: activity sessions and location updates.

A switched-on device stays on one cell for a *stay*: the part of the day around a time bucket
in which the truth places its person at that bucket's position (:func:`stays`). During a stay
it produces

- **activity sessions** (data, calls, SMS) at a rate that follows the hour of day, with
  commute and evening peaks and quiet nights, scaled by the device's own activity level
  (heavy-tailed: some devices are busy all day, many are silent for hours), each session a
  short burst of events;
- **periodic location updates**, every 54 minutes (the LTE T3412 default), 2 or 3 hours
  (longer timers of some networks and device classes), at a phase of its own kept all day.

Every on device is therefore seen at least once every 3 hours: a presence window of 3 hours
inside a stay counts every device the simulation attached, and a shorter one misses the
silent ones (BE-Alert notes that phones silent for over two hours may not count).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.special import ndtri

from cells.feeds.layout import EVENT_TYPES
from cells.synth.presence import hash64, uniform

SESSIONS_PER_HOUR = (
    *(0.20, 0.10, 0.06, 0.05, 0.05, 0.10),  # 00-05: night
    *(0.35, 0.90, 1.00, 0.60),  # 06-09: waking up, morning commute
    *(0.50, 0.55, 0.70, 0.60, 0.50, 0.55, 0.75),  # 10-16: day, lunch
    *(1.00, 0.90, 0.70),  # 17-19: evening commute
    *(0.65, 0.60, 0.45, 0.30),  # 20-23: evening
)
"""Activity sessions per hour of a device of average activity, by local hour (about 12 a day)."""

ACTIVITY_SD = 1.0
"""Standard deviation (log scale) of a device's activity level (mean 1)."""

EVENTS_PER_SESSION = 2.0
"""Mean events of a session (geometric: a data session's records, a call's start and end)."""

SESSION_GAP_S = 90.0
"""Mean seconds between the events of a session (exponential)."""

SESSION_TYPES = {"data": 0.72, "call": 0.14, "sms": 0.14}
"""Share of sessions by event type."""

LOCATION_UPDATE_PERIODS_S = {54 * 60: 0.7, 2 * 3600: 0.2, 3 * 3600: 0.1}
"""Periodic location update timer (seconds) and the share of devices using it."""

MAX_SILENCE = pd.Timedelta(seconds=max(LOCATION_UPDATE_PERIODS_S))
"""Longest time an on device stays unseen."""

KIND_DEVICE_ID, KIND_SHARE, KIND_ACTIVITY, KIND_PERIOD, KIND_PHASE = range(16, 21)
"""Hash kinds of this package (:func:`cells.synth.presence.hash64`; the presence simulation
uses 0-3)."""


def device_ids(person_id: np.ndarray, slot: np.ndarray, seed: int) -> np.ndarray:
    """Pseudonymous device ids (int64): a 64-bit hash of person id, device slot and seed.

    The synthetic feed derives them from the truth; a real operator hashes the IMSI with a
    secret key. The same person and slot keep their id all day.
    """
    return hash64(person_id, seed, (0, slot, KIND_DEVICE_ID)).view(np.int64)


def in_share(device_id: np.ndarray, seed: int, share: float) -> np.ndarray:
    """Boolean mask of the devices kept in a feed of a ``share`` of all devices."""
    return uniform(device_id, seed, (0, 0, KIND_SHARE)) < share


def stays(times: pd.DatetimeIndex, length: pd.Timedelta) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The stay of each time bucket: from midway after the previous bucket's end to midway
    before the next bucket's start, the first from local midnight, the last to the next.

    Parameters
    ----------
    times : DatetimeIndex
        Bucket starts, tz-aware, sorted, of one local day.
    length : Timedelta
        Bucket length.

    Raises
    ------
    ValueError
        If the buckets are not sorted, overlap or span more than one day.
    """
    times = pd.DatetimeIndex(times)
    if times.tz is None or len(times) == 0:
        raise ValueError("bucket times must be a non-empty tz-aware index")
    ends = times + length
    if (times[1:] < ends[:-1]).any():
        raise ValueError("bucket times must be sorted and their buckets must not overlap")
    day = times[0].normalize()
    if ends[-1] > day + pd.Timedelta(days=1):
        raise ValueError(f"buckets must lie within one day, {day.date()}")
    cuts = [day, *(e + (t - e) / 2 for e, t in zip(ends[:-1], times[1:], strict=True))]
    return list(zip(cuts, [*cuts[1:], day + pd.Timedelta(days=1)], strict=True))


def device_events(
    device_id: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of devices that stay switched on from ``start`` to ``end``.

    Parameters
    ----------
    device_id : numpy.ndarray of int64, shape ``(n,)``
        Each device's activity level and location update timer come from its id and
        ``seed``, so they are the same in every stay.
    start, end : pandas.Timestamp
        The stay, tz-aware; events fall in ``[start, end)``.
    seed : int
    rng : numpy.random.Generator
        Draws the sessions.

    Returns
    -------
    device : numpy.ndarray of int64, shape ``(m,)``
        Index of each event's device in ``device_id``.
    time_ms : numpy.ndarray of int64
        Event time, milliseconds since the Unix epoch.
    event : numpy.ndarray of int8
        Index into :data:`cells.feeds.layout.EVENT_TYPES`.
    """
    n = len(device_id)
    day_ms = start.normalize().value // 1_000_000  # local midnight
    lo = (start.value // 1_000_000 - day_ms) / 1000.0  # seconds since local midnight
    hi = (end.value // 1_000_000 - day_ms) / 1000.0

    # periodic location updates at phase + k * period
    periods = np.array(list(LOCATION_UPDATE_PERIODS_S), np.float64)
    shares = np.cumsum(list(LOCATION_UPDATE_PERIODS_S.values()))[:-1]
    period = periods[
        np.searchsorted(shares, uniform(device_id, seed, (0, 0, KIND_PERIOD)), "right")
    ]
    phase = uniform(device_id, seed, (0, 0, KIND_PHASE)) * period
    first = np.ceil((lo - phase) / period)
    count = (np.ceil((hi - phase) / period) - first).astype(np.int64)
    lu_device = np.repeat(np.arange(n), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    lu_time = phase[lu_device] + (first[lu_device] + k) * period[lu_device]

    # activity sessions, hour by hour of local time
    z = ndtri(np.clip(uniform(device_id, seed, (0, 0, KIND_ACTIVITY)), 1e-12, 1 - 1e-12))
    activity = np.exp(ACTIVITY_SD * z - ACTIVITY_SD**2 / 2)
    edges = np.unique(
        np.clip(np.arange(np.floor(lo / 3600), np.ceil(hi / 3600) + 1) * 3600, lo, hi)
    )
    s_device, s_start = [], []
    for a, b in itertools.pairwise(edges):
        rate = SESSIONS_PER_HOUR[int(a // 3600) % 24] * (b - a) / 3600
        sessions = rng.poisson(activity * rate)
        s_device.append(np.repeat(np.arange(n), sessions))
        s_start.append(a + rng.random(int(sessions.sum())) * (b - a))
    s_device, s_start = np.concatenate(s_device), np.concatenate(s_start)
    s_type = rng.choice(
        [EVENT_TYPES.index(t) for t in SESSION_TYPES],
        size=s_device.size,
        p=list(SESSION_TYPES.values()),
    ).astype(np.int8)
    size = rng.geometric(1 / EVENTS_PER_SESSION, s_device.size)
    gap = rng.exponential(SESSION_GAP_S, int(size.sum()))
    starts = np.cumsum(size) - size
    gap[starts] = 0.0
    offset = np.cumsum(gap)
    offset -= np.repeat(offset[starts], size)
    a_device = np.repeat(s_device, size)
    a_time = np.repeat(s_start, size) + offset
    keep = a_time < hi  # a burst cut short by the end of the stay

    device = np.concatenate([lu_device, a_device[keep]])
    seconds = np.concatenate([lu_time, a_time[keep]])
    event = np.concatenate(
        [
            np.full(lu_device.size, EVENT_TYPES.index("location_update"), np.int8),
            np.repeat(s_type, size)[keep],
        ]
    )
    return device, day_ms + np.floor(seconds * 1000).astype(np.int64), event
