"""A generic radio model: how strongly a cell is received at a point, and how it dominates.

Only the published cell plan is used (site position, azimuth, range). Path loss follows a
log-distance law relative to the cell's own range, so a cell is at 0 dB at its coverage edge on
its axis; sector antennas follow the horizontal pattern of 3GPP TR 36.814 (65 degree
half-power beamwidth, 20 dB front-to-back). Signal dominance maps that level to (0, 1) with a
logistic curve, as in Statistics Netherlands' mobloc, so that a device near a site is not
assumed to pick that site every time.
"""

from __future__ import annotations

import numpy as np

PATH_LOSS_EXPONENT = 3.5
BEAMWIDTH_DEG = 65.0
FRONT_TO_BACK_DB = 20.0


def relative_level_db(
    dx: np.ndarray, dy: np.ndarray, azimuth_deg: np.ndarray, range_m: np.ndarray
) -> np.ndarray:
    """Received level relative to the cell's edge, in dB.

    Parameters
    ----------
    dx, dy : arrays, shape (n,)
        Offset of each point from its cell's site, metres east and north.
    azimuth_deg : array, shape (n,)
        Antenna azimuth, degrees clockwise from north; NaN for an omnidirectional cell.
    range_m : array, shape (n,)
        The cell's nominal range in metres.

    Returns
    -------
    float64 array, shape (n,)
        0 at ``range_m`` on the antenna's axis, positive nearer, negative off-axis or beyond.
    """
    distance = np.maximum(np.hypot(dx, dy), 1.0)
    level = -10.0 * PATH_LOSS_EXPONENT * np.log10(distance / np.maximum(range_m, 1.0))
    bearing = np.degrees(np.arctan2(dx, dy))
    off_axis = np.abs((bearing - azimuth_deg + 180.0) % 360.0 - 180.0)
    pattern = -np.minimum(12.0 * (off_axis / BEAMWIDTH_DEG) ** 2, FRONT_TO_BACK_DB)
    return level + np.where(np.isnan(azimuth_deg), 0.0, pattern)


def dominance(level_db: np.ndarray, midpoint_db: float = 0.0, steepness: float = 0.3) -> np.ndarray:
    """Signal dominance in (0, 1) of a relative level in dB (logistic, as in mobloc)."""
    return 1.0 / (1.0 + np.exp(-steepness * (np.asarray(level_db) - midpoint_db)))
