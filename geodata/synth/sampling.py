"""Vectorised sampling helpers shared by the synthesis steps."""

from __future__ import annotations

import numpy as np

# Metres per degree of latitude, and of longitude at the equator (WGS84, local approximation
# good to a fraction of a percent over the few kilometres jitter is applied to).
M_PER_DEG_LAT = 111_132.0
M_PER_DEG_LON = 111_320.0


def step_rng(seed: int, step: str) -> np.random.Generator:
    """An independent random generator for one named synthesis step of one seed."""
    return np.random.default_rng([seed, *step.encode()])


def round_cumulative(values: np.ndarray) -> np.ndarray:
    """Integers that sum like ``values``: every prefix sum is within 0.5 of the real one.

    So contiguous groups (e.g. the pieces of one municipality) keep their total to within one.
    """
    return np.diff(np.round(np.cumsum(values)), prepend=0.0).astype(np.int64)


class GroupedChoice:
    """Weighted random choice of an item within a group, for many choosers at once.

    Parameters
    ----------
    group : (n,) int
        Group of each item; items must be sorted by group.
    weights : (n,) float
        Non-negative weights; a group with zero total weight cannot be chosen from.
    n_groups : int
        Number of groups (groups are 0..n_groups-1).
    """

    def __init__(self, group: np.ndarray, weights: np.ndarray, n_groups: int) -> None:
        group = np.asarray(group, dtype=np.int64)
        if len(group) and np.any(np.diff(group) < 0):
            raise ValueError("GroupedChoice: items must be sorted by group")
        weights = np.asarray(weights, dtype=np.float64)
        self.start = np.searchsorted(group, np.arange(n_groups), side="left")
        self.end = np.searchsorted(group, np.arange(n_groups), side="right")
        self.total = np.bincount(group, weights, minlength=n_groups)
        cum = np.cumsum(weights)
        before = np.concatenate([[0.0], cum])[self.start]
        # Items of a group without weight keep the group's first key (0 within it, not the
        # NaN of 0/0, which would unsort the keys and misdirect every search).
        total = self.total[group]
        within = np.divide(cum - before[group], total, out=np.zeros_like(cum), where=total > 0)
        within[self.end[self.total > 0] - 1] = 1.0
        self._key = group + within

    def choose(self, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item index per chooser, drawn within its ``group`` by weight.

        Raises
        ------
        ValueError
            If a chooser's group has no positive weight.
        """
        group = np.asarray(group, dtype=np.int64)
        if np.any(self.total[group] <= 0):
            empty = np.unique(group[self.total[group] <= 0])
            raise ValueError(f"GroupedChoice: groups without weight chosen from: {empty[:10]}")
        index = np.searchsorted(self._key, group + rng.random(len(group)), side="right")
        return np.minimum(index, self.end[group] - 1)


def jitter(
    lon: np.ndarray, lat: np.ndarray, sigma_m: np.ndarray | float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points moved by a Gaussian offset of ``sigma_m`` metres in each axis (lon/lat degrees)."""
    dx = rng.standard_normal(len(lon)) * sigma_m
    dy = rng.standard_normal(len(lon)) * sigma_m
    return offset(lon, lat, dx, dy)


def offset(
    lon: np.ndarray, lat: np.ndarray, dx_m: np.ndarray, dy_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Points moved ``dx_m`` metres east and ``dy_m`` metres north (lon/lat degrees)."""
    return (
        lon + dx_m / (M_PER_DEG_LON * np.cos(np.radians(lat))),
        lat + dy_m / M_PER_DEG_LAT,
    )
