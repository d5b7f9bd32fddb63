"""The event feed on disk: columns, partitions and the ``_feed.json`` that describes them.

A feed is a directory of Parquet files partitioned by UTC hour and device shard::

    FEED/_feed.json
    FEED/hour=2024-03-12T02/shard=07/part-0.parquet

Every event of a device lies in shard ``device_id mod shards``, so that a device's last event
is found within one shard, without moving events between machines. Hours are UTC so that a
day with a clock change still has one directory per hour.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

FEED_FILE = "_feed.json"
"""Feed metadata; the leading underscore keeps Parquet readers of the directory off it."""
FORMAT = "geoalert-events/1"
TIMEZONE = "Europe/Brussels"

EVENT_TYPES = ("call", "sms", "data", "location_update")
"""Event types, in the order of their codes."""

SCHEMA = pa.schema(
    [
        pa.field("device_id", pa.int64(), nullable=False),
        pa.field("cell_id", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("time", pa.timestamp("ms", tz=TIMEZONE), nullable=False),
        pa.field("event", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("home_mcc", pa.int16(), nullable=False),
    ]
)
"""Columns of the event files: ``device_id`` (pseudonymous 64-bit hash of the device),
``cell_id`` (``cells.parquet`` id), ``time`` (ms), ``event`` (one of :data:`EVENT_TYPES`),
``home_mcc`` (the SIM's home country; 206 for Belgian subscribers)."""

HOUR_MS = 3_600_000
_PARTITION = re.compile(r"^hour=(\d{4}-\d{2}-\d{2}T\d{2})/shard=(\d+)/[^/]+\.parquet$")


class FeedError(ValueError):
    """An event feed that cannot be read as described (what is wrong, and where)."""


def hour_name(hour: int) -> str:
    """Partition name of a UTC hour given as hours since the Unix epoch."""
    return pd.Timestamp(hour * HOUR_MS, unit="ms").strftime("%Y-%m-%dT%H")


def shard_of(device_id: np.ndarray, shards: int) -> np.ndarray:
    """Shard (int64) of each device id: ``device_id mod shards`` on the unsigned 64-bit hash."""
    return (np.asarray(device_id, np.int64).view(np.uint64) % np.uint64(shards)).astype(np.int64)


@dataclass(frozen=True)
class Feed:
    """An event feed directory, as described by its ``_feed.json``.

    Attributes
    ----------
    path : Path
    shards : int
        Devices are spread over this many shards.
    bucket_times : DatetimeIndex
        Starts of the time buckets the feed was simulated for (tz Europe/Brussels).
    bucket_length : Timedelta
    files : dict of (hour, shard) to list of Path
        Event files by UTC hour (hours since the epoch) and shard.
    info : dict
        The whole ``_feed.json``.
    """

    path: Path
    shards: int
    bucket_times: pd.DatetimeIndex
    bucket_length: pd.Timedelta
    files: dict[tuple[int, int], list[Path]]
    info: dict

    @classmethod
    def open(cls, path: str | Path) -> Feed:
        """Read ``_feed.json`` and list the event files.

        Raises
        ------
        FeedError
            No ``_feed.json``, another format, or a file outside the partition layout or in a
            shard the feed does not have.
        """
        path = Path(path)
        meta = path / FEED_FILE
        if not meta.is_file():
            raise FeedError(f"{path} is not an event feed: it has no {FEED_FILE}")
        try:
            info = json.loads(meta.read_text())
            if info.get("format") != FORMAT:
                raise FeedError(f"{meta}: format {info.get('format')!r}, expected {FORMAT!r}")
            shards = int(info["shards"])
            buckets = info["buckets"]
            times = pd.DatetimeIndex(pd.to_datetime(buckets["times"])).tz_convert(TIMEZONE)
            length = pd.Timedelta(buckets["length"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, FeedError):
                raise
            raise FeedError(f"{meta}: not a feed description ({exc!r})") from exc
        files: dict[tuple[int, int], list[Path]] = {}
        for file in sorted(path.rglob("*.parquet")):
            relative = file.relative_to(path).as_posix()
            match = _PARTITION.match(relative)
            if match is None:
                raise FeedError(
                    f"{file}: not in the layout hour=YYYY-MM-DDTHH/shard=N/NAME.parquet"
                )
            shard = int(match[2])
            if shard >= shards:
                raise FeedError(f"{file}: shard {shard}, but {meta} states {shards} shards")
            hour = pd.Timestamp(match[1], tz="UTC").value // (HOUR_MS * 1_000_000)
            files.setdefault((int(hour), shard), []).append(file)
        return cls(
            path=path,
            shards=shards,
            bucket_times=times,
            bucket_length=length,
            files=files,
            info=info,
        )

    def events_in(self, hours: np.ndarray) -> int:
        """Events the feed holds in the UTC ``hours`` (hours since the epoch)."""
        by_hour = self.info.get("events_by_hour", {})
        return sum(by_hour.get(hour_name(int(h)), 0) for h in np.unique(hours))

    def shard_files(self, shard: int, hours: np.ndarray) -> list[Path]:
        """Files of ``shard`` in the UTC ``hours`` (hours since the epoch)."""
        return [f for h in np.unique(hours) for f in self.files.get((int(h), shard), [])]
