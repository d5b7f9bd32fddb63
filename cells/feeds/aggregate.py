"""Network events to per-cell presence counts: unique devices last seen within a window.

A device is present in a time bucket ``[start, start + length)`` when its last event before
the bucket's end is at most ``window`` old; it is counted in that event's cell, under its home
MCC. Counts below the k-anonymity threshold are suppressed before the table leaves
(:func:`presence_table`): the output is the world's ``presence.parquet``, what the engine reads.

Two routes give the same counts:

- :func:`shard_counts` + :func:`present_devices`, on Dask: one task per device shard reads the
  shard's events in the windows and reduces them to counts per (bucket, cell, home MCC); the
  counts are summed over shards. A device's events all lie in one shard, so no event moves
  between workers; the tasks run wherever the current Dask scheduler sends them (a local
  cluster or a ``dask.distributed`` scheduler's workers).
- :func:`present_devices_pandas`, plain pandas on the whole feed: the reference the Dask route
  is tested against.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cells.feeds.layout import HOUR_MS, SCHEMA, TIMEZONE, Feed, FeedError, shard_of
from cells.identity import MCC_BELGIUM

COUNT_COLUMNS = {"bucket": np.int16, "cell": np.int32, "home_mcc": np.int16, "devices": np.int64}
"""Counts before k-anonymity: bucket number, cell (row number in the sorted cell ids), home
MCC and unique devices."""

_READ = ["device_id", "cell_id", "time", "home_mcc"]
_FORMAT = ds.ParquetFileFormat(read_options={"dictionary_columns": ["cell_id"]})


@dataclass(frozen=True)
class Windows:
    """Time buckets and the presence window.

    Parameters
    ----------
    times : DatetimeIndex
        Bucket starts, tz-aware.
    length : Timedelta
        Bucket length.
    window : Timedelta
        A device last seen at most this long before a bucket's end is present in it.

    Raises
    ------
    ValueError
        Naive or repeated times, or a length or window that is not positive.
    """

    times: pd.DatetimeIndex
    length: pd.Timedelta
    window: pd.Timedelta

    def __post_init__(self) -> None:
        times = pd.DatetimeIndex(self.times)
        if times.tz is None:
            raise ValueError("bucket times must be timezone-aware")
        if not times.is_unique:
            raise ValueError("bucket times are repeated")
        if self.length <= pd.Timedelta(0) or self.window <= pd.Timedelta(0):
            raise ValueError(
                f"bucket length ({self.length.isoformat()}) and window "
                f"({self.window.isoformat()}) must be positive"
            )
        object.__setattr__(self, "times", times.tz_convert(TIMEZONE))

    @property
    def bounds_ms(self) -> tuple[np.ndarray, np.ndarray]:
        """Each bucket's window ``[end - window, end)``, ms since the Unix epoch (int64)."""
        end = (self.times + self.length).as_unit("ms").asi8
        return end - self.window.value // 1_000_000, end

    @property
    def hours(self) -> np.ndarray:
        """UTC hours (since the epoch) that the windows touch."""
        lo, hi = self.bounds_ms
        return np.unique(
            np.concatenate(
                [
                    np.arange(a // HOUR_MS, (b - 1) // HOUR_MS + 1)
                    for a, b in zip(lo, hi, strict=True)
                ]
            )
        )


@contextmanager
def local_cluster(workers: int) -> Iterator:
    """A ``dask.distributed`` client of a local cluster of ``workers`` single-threaded worker
    processes (no dashboard), closed on exit: the shard tasks are pure Python and NumPy, so
    processes rather than threads run them side by side."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def read_cells(path: str | Path) -> pd.DataFrame:
    """``cell_id`` and ``operator`` of a ``cells.parquet``, sorted by ``cell_id``.

    Raises
    ------
    FeedError
        If the file cannot be read, lacks a column or repeats a cell id.
    """
    try:
        table = pq.read_table(path, columns=["cell_id", "operator"])
    except (OSError, KeyError, ValueError, pa.ArrowInvalid) as exc:
        raise FeedError(f"{path}: cannot read columns cell_id, operator: {exc}") from exc
    cells = table.to_pandas().sort_values("cell_id", ignore_index=True)
    if cells["cell_id"].duplicated().any():
        first = cells["cell_id"][cells["cell_id"].duplicated()].iloc[0]
        raise FeedError(f"{path}: cell id {first!r} is repeated")
    return cells


def shard_counts(feed: Feed, cell_ids: np.ndarray, windows: Windows) -> dd.DataFrame:
    """Counts of present devices per shard, lazily: one Dask partition per device shard.

    Parameters
    ----------
    feed : Feed
    cell_ids : array of str, shape ``(n_cells,)``, sorted and unique
        Cells the counts refer to by row number.
    windows : Windows

    Returns
    -------
    dask.dataframe.DataFrame
        Columns :data:`COUNT_COLUMNS`; a (bucket, cell, home MCC) appears in several
        partitions (:func:`present_devices` sums them).
    """
    files = [feed.shard_files(s, windows.hours) for s in range(feed.shards)]
    meta = pd.DataFrame({c: np.empty(0, t) for c, t in COUNT_COLUMNS.items()})
    return dd.from_map(
        _count_shard,
        files,
        range(feed.shards),
        cell_ids=np.asarray(cell_ids, dtype=object),
        windows=windows,
        shards=feed.shards,
        meta=meta,
        label="present-devices",
        enforce_metadata=False,
    )


def present_devices(parts: dd.DataFrame) -> pd.DataFrame:
    """Sum the shards' counts (computed on the current Dask scheduler).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COUNT_COLUMNS`, one row per (bucket, cell, home MCC) with devices > 0,
        sorted by them.
    """
    counts = parts.groupby(["bucket", "cell", "home_mcc"]).devices.sum(split_out=1).compute()
    return _counts_frame(counts)


def present_devices_pandas(
    path: str | Path, cell_ids: np.ndarray, windows: Windows
) -> pd.DataFrame:
    """The counts of :func:`present_devices`, in plain pandas over the whole feed.

    Per bucket: the events in its window, sorted by time (then cell id), the last of each
    device, counted by cell and home MCC. Reads every file of the feed, whatever its hour or
    shard.
    """
    events = (
        ds.dataset(sorted(Path(path).rglob("*.parquet")), format="parquet", schema=SCHEMA)
        .to_table(columns=_READ)
        .to_pandas()
    )
    events["cell_id"] = events["cell_id"].astype(object)
    index = pd.Index(np.asarray(cell_ids, dtype=object))
    lo, hi = windows.bounds_ms
    time = events["time"].astype("datetime64[ms, UTC]").astype(np.int64)
    frames = []
    for bucket, (a, b) in enumerate(zip(lo, hi, strict=True)):
        seen = events[(time >= a) & (time < b)]
        last = seen.sort_values(["time", "cell_id"]).drop_duplicates("device_id", keep="last")
        counts = last.groupby(["cell_id", "home_mcc"]).size().reset_index(name="devices")
        cell = index.get_indexer(counts["cell_id"])
        if (cell < 0).any():
            raise FeedError(
                f"{path}: cell id(s) not in the cells, e.g. {counts['cell_id'][cell < 0].iloc[0]}"
            )
        frames.append(counts.assign(bucket=bucket, cell=cell))
    counts = pd.concat(frames).set_index(["bucket", "cell", "home_mcc"])["devices"]
    return _counts_frame(counts)


def presence_table(
    counts: pd.DataFrame, cells: pd.DataFrame, windows: Windows, k: int
) -> tuple[pd.DataFrame, dict]:
    """The ``presence.parquet`` table from counts, k-anonymous.

    Parameters
    ----------
    counts : pandas.DataFrame
        Columns :data:`COUNT_COLUMNS` (from :func:`present_devices` or
        :func:`present_devices_pandas`).
    cells : pandas.DataFrame
        ``cell_id`` and ``operator`` of every cell, sorted by ``cell_id`` (the row numbers of
        ``counts["cell"]``).
    windows : Windows
    k : int
        k-anonymity threshold: a count of 1 to ``k - 1`` devices is never published. A home
        MCC 206 row, which every (cell, time) has, shows 0 instead; a roaming row is left out.

    Returns
    -------
    presence : pandas.DataFrame
        ``cell_id``, ``operator``, ``time`` (bucket start, tz Europe/Brussels), ``home_mcc``
        (int16), ``devices`` (int32): one row per (cell, time) with home MCC 206, and one per
        (cell, time, roaming home MCC) with devices >= k; sorted by time, cell id, home MCC.
    report : dict
        ``devices`` (present before suppression), ``suppressed_counts`` and
        ``suppressed_devices`` (the counts below ``k`` and the devices they held).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    n_cells, n_times = len(cells), len(windows.times)
    counts = counts[list(COUNT_COLUMNS)].astype(COUNT_COLUMNS)
    small = counts["devices"] < k
    kept = counts[~small]
    home = kept["home_mcc"].to_numpy() == MCC_BELGIUM
    domestic = np.zeros((n_times, n_cells), np.int64)
    domestic[kept["bucket"].to_numpy()[home], kept["cell"].to_numpy()[home]] = kept["devices"][home]
    roam = kept[~home]
    bucket = np.concatenate([np.repeat(np.arange(n_times), n_cells), roam["bucket"].to_numpy()])
    cell = np.concatenate([np.tile(np.arange(n_cells), n_times), roam["cell"].to_numpy()])
    mcc = np.concatenate([np.full(n_times * n_cells, MCC_BELGIUM), roam["home_mcc"].to_numpy()])
    devices = np.concatenate([domestic.ravel(), roam["devices"].to_numpy()])
    order = np.lexsort((mcc, cell, bucket))  # cells are sorted by id
    bucket, cell, mcc, devices = bucket[order], cell[order], mcc[order], devices[order]
    cell_id = cells["cell_id"].to_numpy(dtype=object)
    operator = cells["operator"].to_numpy(dtype=object)
    presence = pd.DataFrame(
        {
            "cell_id": pd.array(cell_id[cell], dtype=str),
            "operator": pd.array(operator[cell], dtype=str),
            "time": windows.times.as_unit("ns")[bucket],
            "home_mcc": mcc.astype(np.int16),
            "devices": devices.astype(np.int32),
        }
    )
    report = {
        "devices": int(counts["devices"].sum()),
        "suppressed_counts": int(small.sum()),
        "suppressed_devices": int(counts["devices"][small].sum()),
    }
    return presence, report


def _count_shard(
    files: list[Path], shard: int, cell_ids: np.ndarray, windows: Windows, shards: int
) -> pd.DataFrame:
    """Present devices of one shard per (bucket, cell, home MCC)."""
    empty = pd.DataFrame({c: np.empty(0, t) for c, t in COUNT_COLUMNS.items()})
    if not files:
        return empty
    lo, hi = windows.bounds_ms
    time_field = ds.field("time").cast(pa.int64())
    in_window = (time_field >= int(lo[0])) & (time_field < int(hi[0]))
    for a, b in zip(lo[1:], hi[1:], strict=True):
        in_window |= (time_field >= int(a)) & (time_field < int(b))
    table = ds.dataset(files, format=_FORMAT, schema=SCHEMA).to_table(
        columns=_READ, filter=in_window
    )
    if table.num_rows == 0:
        return empty
    device = table["device_id"].to_numpy()
    wrong = shard_of(device, shards) != shard
    if wrong.any():
        raise FeedError(f"shard {shard} holds devices of other shards (files {files[0]}, ...)")
    cell = _cell_numbers(table["cell_id"], cell_ids, files)
    time = table["time"].cast(pa.int64()).to_numpy()
    mcc = table["home_mcc"].to_numpy()
    frames = []
    for bucket, (a, b) in enumerate(zip(lo, hi, strict=True)):
        m = (time >= a) & (time < b)
        # the latest event of each device, and of two at once the larger cell id
        last = (
            pd.DataFrame(
                {"device": device[m], "key": time[m] * len(cell_ids) + cell[m], "mcc": mcc[m]}
            )
            .groupby("device", sort=False)
            .max()
        )
        where = (last["key"].to_numpy() % len(cell_ids)) * 1000 + last["mcc"].to_numpy()
        group, devices = np.unique(where, return_counts=True)
        frames.append(
            pd.DataFrame(
                {
                    "bucket": np.full(group.size, bucket, np.int16),
                    "cell": (group // 1000).astype(np.int32),
                    "home_mcc": (group % 1000).astype(np.int16),
                    "devices": devices.astype(np.int64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _cell_numbers(column: pa.ChunkedArray, cell_ids: np.ndarray, files: list[Path]) -> np.ndarray:
    """Row numbers in ``cell_ids`` (sorted) of a dictionary-encoded cell id column."""
    out = []
    for chunk in column.chunks:
        names = chunk.dictionary.to_numpy(zero_copy_only=False).astype(object)
        number = np.searchsorted(cell_ids, names).clip(0, len(cell_ids) - 1)
        unknown = cell_ids[number] != names
        if unknown.any():
            raise FeedError(
                f"cell id {names[unknown][0]!r} of the feed (files {files[0]}, ...) is not a cell "
                "of cells.parquet"
            )
        out.append(number[chunk.indices.to_numpy(zero_copy_only=False)])
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _counts_frame(counts: pd.Series) -> pd.DataFrame:
    frame = counts[counts > 0].reset_index().sort_values(["bucket", "cell", "home_mcc"])
    return frame.astype(COUNT_COLUMNS).reset_index(drop=True)[list(COUNT_COLUMNS)]
