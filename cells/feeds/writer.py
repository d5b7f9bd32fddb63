"""Writing an event feed: partitioned Parquet from the simulation's attached devices.

:class:`FeedWriter` is given, bucket by bucket, the devices the presence simulation attached
(:func:`cells.synth.presence.simulate_presence`, ``on_attached``) and writes the events they
produce during the bucket's stay (:mod:`cells.feeds.events`). The directory appears under its
name only once the feed is complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cells.feeds import events as ev
from cells.feeds.layout import (
    EVENT_TYPES,
    FEED_FILE,
    FORMAT,
    HOUR_MS,
    SCHEMA,
    TIMEZONE,
    hour_name,
    shard_of,
)

PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": ["cell_id", "event", "home_mcc"],
    "column_encoding": {"device_id": "DELTA_BINARY_PACKED", "time": "DELTA_BINARY_PACKED"},
}
"""Rows sorted by device and time, ids and times delta-encoded: 7 bytes an event, not 11."""

DEVICES_PER_CHUNK = 500_000
"""Devices whose events are drawn and written at once (bounds memory: ~15 M events)."""


class FeedWriter:
    """Write an event feed into ``path`` (a directory, replaced when the feed is complete).

    Use as a context manager: :meth:`write_bucket` per time bucket (the presence simulation's
    ``on_attached``), or :meth:`write_events` for given events.

    Parameters
    ----------
    path : str or Path
        The feed directory.
    cell_ids : array of str, shape ``(n_cells,)``
        The world's cells; events name them by row number.
    bucket_times : DatetimeIndex
        Starts of the time buckets (tz-aware) of one day; each gives one stay
        (:func:`cells.feeds.events.stays`).
    bucket_length : Timedelta
    seed : int
        The world's seed: with the same attachments, the same feed.
    shards : int
        Device shards (partitions of the devices; a task each when aggregating).
    share : float
        Share of the devices written, in (0, 1]: a smaller feed of the same devices.
    """

    def __init__(
        self,
        path: str | Path,
        cell_ids: np.ndarray,
        bucket_times: pd.DatetimeIndex,
        bucket_length: pd.Timedelta,
        seed: int,
        shards: int = 16,
        share: float = 1.0,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], not {share}")
        if shards < 1:
            raise ValueError(f"shards must be >= 1, not {shards}")
        self.path = Path(path)
        self.cell_ids = pa.array(np.asarray(cell_ids, dtype=object), pa.string())
        self.bucket_times = pd.DatetimeIndex(bucket_times).tz_convert(TIMEZONE)
        self.bucket_length = pd.Timedelta(bucket_length)
        self.stays = ev.stays(self.bucket_times, self.bucket_length)
        self.seed, self.shards, self.share = int(seed), int(shards), float(share)
        self.events = 0
        self.devices = 0
        self.by_hour: dict[str, int] = {}
        self.by_type = np.zeros(len(EVENT_TYPES), np.int64)
        self._stage = self.path.with_name(f".{self.path.name}.partial")
        self._writers: dict[tuple[int, int], pq.ParquetWriter] = {}
        self._part = 0

    def __enter__(self) -> FeedWriter:
        shutil.rmtree(self._stage, ignore_errors=True)
        self._stage.mkdir(parents=True)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self._close_files()
            if exc_type is None:
                (self._stage / FEED_FILE).write_text(json.dumps(self.describe(), indent=2) + "\n")
                shutil.rmtree(self.path, ignore_errors=True)
                os.replace(self._stage, self.path)
        finally:
            shutil.rmtree(self._stage, ignore_errors=True)

    def write_bucket(
        self,
        time: pd.Timestamp,
        person_id: np.ndarray,
        slot: np.ndarray,
        home_mcc: np.ndarray,
        cell: np.ndarray,
    ) -> None:
        """Write the events of the devices switched on in a bucket, during its stay.

        Parameters are those of ``on_attached`` in
        :func:`cells.synth.presence.simulate_presence`: bucket start, and per device its
        person's id, slot, home MCC and cell (row number in ``cell_ids``).

        Raises
        ------
        ValueError
            If ``time`` is not one of the bucket times.
        """
        number = self.bucket_times.get_indexer([time])[0]
        if number < 0:
            raise ValueError(f"{time.isoformat()} is not a bucket of this feed")
        start, end = self.stays[number]
        device_id = ev.device_ids(person_id, slot, self.seed)
        kept = np.flatnonzero(ev.in_share(device_id, self.seed, self.share))
        self.devices += kept.size
        for chunk, at in enumerate(range(0, kept.size, DEVICES_PER_CHUNK)):
            rows = kept[at : at + DEVICES_PER_CHUNK]
            rng = np.random.default_rng([self.seed, int(number), chunk])
            device, time_ms, event = ev.device_events(device_id[rows], start, end, self.seed, rng)
            rows = rows[device]
            self.write_events(device_id[rows], cell[rows], time_ms, event, home_mcc[rows])
        self._close_files()

    def write_events(
        self,
        device_id: np.ndarray,
        cell: np.ndarray,
        time_ms: np.ndarray,
        event: np.ndarray,
        home_mcc: np.ndarray,
    ) -> None:
        """Append events, each to the file of its UTC hour and device shard, sorted by device
        and time.

        Parameters
        ----------
        device_id : int64 array, shape ``(m,)``
        cell : int array, shape ``(m,)``
            Row number in ``cell_ids``.
        time_ms : int64 array
            Milliseconds since the Unix epoch.
        event : int8 array
            Index into :data:`cells.feeds.layout.EVENT_TYPES`.
        home_mcc : int16 array
        """
        hour = np.asarray(time_ms) // HOUR_MS
        key = hour * self.shards + shard_of(device_id, self.shards)
        order = np.lexsort((time_ms, device_id, key))
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        types = pa.array(EVENT_TYPES, pa.string())
        for rows in np.split(order, bounds):
            if rows.size == 0:
                continue
            used, index = np.unique(cell[rows], return_inverse=True)
            code = np.asarray(event)[rows].astype(np.int8)
            table = pa.Table.from_arrays(
                [
                    pa.array(device_id[rows], pa.int64()),
                    pa.DictionaryArray.from_arrays(
                        index.astype(np.int32), pc.take(self.cell_ids, used)
                    ),
                    pa.array(time_ms[rows], pa.int64()).cast(SCHEMA.field("time").type),
                    pa.DictionaryArray.from_arrays(code, types),
                    pa.array(home_mcc[rows], pa.int16()),
                ],
                schema=SCHEMA,
            )
            self._file(int(key[rows[0]])).write_table(table)
            name = hour_name(int(hour[rows[0]]))
            self.by_hour[name] = self.by_hour.get(name, 0) + rows.size
            self.by_type += np.bincount(code, minlength=len(EVENT_TYPES))
            self.events += rows.size

    def describe(self) -> dict:
        """The feed's ``_feed.json``."""
        return {
            "format": FORMAT,
            "shards": self.shards,
            "partitioning": "hour=UTC hour/shard=device_id mod shards",
            "buckets": {
                "times": [t.isoformat() for t in self.bucket_times],
                "length": self.bucket_length.isoformat(),
                "timezone": TIMEZONE,
            },
            "stays": [[a.isoformat(), b.isoformat()] for a, b in self.stays],
            "seed": self.seed,
            "share": self.share,
            "events": int(self.events),
            "device_stays": int(self.devices),
            "events_by_type": dict(zip(EVENT_TYPES, self.by_type.tolist(), strict=True)),
            "events_by_hour": dict(sorted(self.by_hour.items())),
        }

    def _file(self, key: int) -> pq.ParquetWriter:
        if key not in self._writers:
            hour, shard = divmod(key, self.shards)
            folder = self._stage / f"hour={hour_name(hour)}" / f"shard={shard:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            self._writers[key] = pq.ParquetWriter(
                folder / f"part-{self._part}.parquet", SCHEMA, **PARQUET_OPTIONS
            )
        return self._writers[key]

    def _close_files(self) -> None:
        """Close the open files; later events go to new parts (a part per bucket)."""
        for writer in self._writers.values():
            writer.close()
        if self._writers:
            self._part += 1
        self._writers.clear()
