"""Operators' presence feeds: devices attached per cell and time bucket.

``presence.parquet`` holds one row per (cell, bucket start, home MCC) with the number of
devices attached; devices of the operator's own country (MCC 206) have a row for every cell and
bucket, even when zero, and roaming devices one row per home country seen. :func:`read_presence`
turns it into dense arrays aligned with a given cell order, one plane per bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

HOME_MCC = 206
TIMEZONE = "Europe/Brussels"
COLUMNS = ("cell_id", "operator", "time", "home_mcc", "devices")


class PresenceError(ValueError):
    """A presence feed that cannot be read as described (what is wrong, and where)."""


@dataclass(frozen=True)
class Presence:
    """Devices per cell and time bucket.

    Attributes
    ----------
    times : DatetimeIndex, shape (t,)
        Bucket starts, sorted, tz Europe/Brussels.
    bucket_length : Timedelta
        Each bucket covers ``[start, start + bucket_length)``.
    domestic : int32 array, shape (t, n_cells)
        Devices of home MCC 206 per bucket and cell (cells in the order given to
        :func:`read_presence`).
    roaming_mcc : int16 array, shape (m,)
        Home MCCs of roaming devices seen anywhere, sorted.
    roaming : int32 array, shape (t, n_cells, m)
        Roaming devices per bucket, cell and home MCC.
    """

    times: pd.DatetimeIndex
    bucket_length: pd.Timedelta
    domestic: np.ndarray
    roaming_mcc: np.ndarray
    roaming: np.ndarray

    def bucket_at(self, when: pd.Timestamp) -> int:
        """Index of the bucket that contains ``when`` (tz-aware), or ``-1``."""
        i = int(self.times.searchsorted(when, side="right")) - 1
        if i >= 0 and when < self.times[i] + self.bucket_length:
            return i
        return -1


#: Length of a time bucket when the world does not state it (the world schema's one hour).
BUCKET_LENGTH = pd.Timedelta(hours=1)


def read_presence(
    path: str | Path, cell_ids: np.ndarray, bucket_length: pd.Timedelta = BUCKET_LENGTH
) -> Presence:
    """Read ``presence.parquet`` into per-bucket arrays aligned with ``cell_ids``.

    See :func:`presence_from_frame`; also raises :class:`PresenceError` when the file cannot
    be read or lacks a column.
    """
    path = Path(path)
    try:
        table = pq.read_table(path, columns=list(COLUMNS))
    except (OSError, KeyError, ValueError) as exc:
        raise PresenceError(f"{path}: cannot read columns {', '.join(COLUMNS)}: {exc}") from exc
    return presence_from_frame(table.to_pandas(), cell_ids, bucket_length, where=str(path))


def presence_from_frame(
    frame: pd.DataFrame,
    cell_ids: np.ndarray,
    bucket_length: pd.Timedelta = BUCKET_LENGTH,
    where: str = "presence",
) -> Presence:
    """Devices per bucket and cell from rows of the ``presence.parquet`` schema.

    Parameters
    ----------
    frame : DataFrame with ``cell_id``, ``operator``, ``time`` (tz-aware bucket start),
        ``home_mcc`` and ``devices``
    cell_ids : array of str, shape (n_cells,)
        The cells of ``cells.parquet``, in the order the arrays should follow. Cells with no
        row get zero devices.
    bucket_length : Timedelta
        Length of each bucket (``manifest.json``; one hour by default).
    where : str
        Name of the source in error messages.

    Raises
    ------
    PresenceError
        Missing columns, null values, negative counts, naive timestamps, or cell ids that are
        not in ``cell_ids``.
    """
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise PresenceError(f"{where}: missing column(s) {', '.join(missing)}")
    for column in COLUMNS:
        if frame[column].isna().any():
            rows = np.flatnonzero(frame[column].isna().to_numpy())[:5].tolist()
            raise PresenceError(f"{where}: column {column!r} has nulls (rows {rows})")
    time = frame["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise PresenceError(f"{where}: column 'time' must be timezone-aware, got {time.dtype}")
    devices = frame["devices"].to_numpy()
    if (devices < 0).any():
        rows = np.flatnonzero(devices < 0)[:5].tolist()
        raise PresenceError(f"{where}: negative device counts (rows {rows})")

    index = pd.Index(np.asarray(cell_ids, dtype=object))
    if not index.is_unique:
        raise PresenceError("cell ids to align presence with are not unique")
    cell = index.get_indexer(frame["cell_id"].to_numpy(dtype=object))
    if (cell < 0).any():
        unknown = pd.unique(frame["cell_id"].to_numpy(dtype=object)[cell < 0])
        raise PresenceError(
            f"{where}: {len(unknown)} cell id(s) not in cells.parquet, e.g. {unknown[:3].tolist()}"
        )

    local = time.dt.tz_convert(TIMEZONE)
    times = pd.DatetimeIndex(pd.unique(local)).sort_values()
    bucket = times.get_indexer(local)
    mcc = frame["home_mcc"].to_numpy().astype(np.int16)
    home = mcc == HOME_MCC
    domestic = np.zeros((len(times), len(index)), dtype=np.int32)
    np.add.at(domestic, (bucket[home], cell[home]), devices[home])
    roaming_mcc = np.unique(mcc[~home])
    roaming = np.zeros((len(times), len(index), len(roaming_mcc)), dtype=np.int32)
    which = np.searchsorted(roaming_mcc, mcc[~home])
    np.add.at(roaming, (bucket[~home], cell[~home], which), devices[~home])
    return Presence(times, pd.Timedelta(bucket_length), domestic, roaming_mcc, roaming)
