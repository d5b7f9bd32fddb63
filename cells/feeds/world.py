"""The event feed of a built world: its truth, cells and seed through the presence simulation.

Running :func:`cells.synth.presence.simulate_presence` again on a world's own truth, cells and
seed gives its devices and their attachments; the feed is written from them, and the counts the
run gives are checked against the world's ``presence.parquet``, so that a feed is never derived
from other devices than the world's presence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cells.feeds.layout import FeedError
from cells.feeds.writer import FeedWriter
from cells.synth.presence import simulate_presence


def read_truth_buckets(
    path: str | Path, times: pd.DatetimeIndex
) -> Iterator[tuple[pd.Timestamp, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Buckets of a world's ``truth.parquet``, read one at a time.

    Yields
    ------
    (time, person_id, lon, lat, home_mcc)
        As :func:`cells.synth.presence.simulate_presence` takes them (lon/lat degrees,
        EPSG:4326).
    """
    for time in times:
        table = pq.read_table(
            path, columns=["person_id", "home_mcc", "geometry"], filters=[("time", "==", time)]
        )
        geometry = table["geometry"]
        yield (
            time,
            table["person_id"].to_numpy(),
            pc.struct_field(geometry, "x").to_numpy(),
            pc.struct_field(geometry, "y").to_numpy(),
            table["home_mcc"].to_numpy(),
        )


def feed_from_world(
    world: str | Path,
    out: str | Path,
    *,
    shards: int = 16,
    share: float = 1.0,
    on_bucket: Callable[[], None] | None = None,
) -> dict:
    """Write the event feed of a built world (``geoalert demo-data`` output).

    Parameters
    ----------
    world : path
        World directory: ``manifest.json``, ``cells.parquet``, ``truth.parquet``,
        ``presence.parquet``.
    out : path
        Feed directory to write (replaced).
    shards : int
    share : float
        Share of the devices written (see :class:`~cells.feeds.writer.FeedWriter`).
    on_bucket : callable, optional
        Called after each time bucket is simulated and written (progress).

    Returns
    -------
    dict
        The feed's ``_feed.json``.

    Raises
    ------
    FeedError
        If the simulation's counts differ from the world's ``presence.parquet``: the world was
        built by another version or from other inputs, and its feed would not match it.
    """
    world = Path(world)
    manifest = json.loads((world / "manifest.json").read_text())
    buckets = manifest["buckets"]
    times = pd.DatetimeIndex(pd.to_datetime(buckets["times"])).tz_convert(buckets["timezone"])
    cells = gpd.read_parquet(world / "cells.parquet")
    seed = int(manifest["seed"])
    with FeedWriter(
        out,
        cells["cell_id"].to_numpy(dtype=object),
        times,
        pd.Timedelta(buckets["length"]),
        seed,
        shards=shards,
        share=share,
    ) as writer:
        buckets = read_truth_buckets(world / "truth.parquet", times)
        counts = simulate_presence(
            buckets if on_bucket is None else _reporting(buckets, on_bucket),
            cells,
            seed,
            on_attached=writer.write_bucket,
        )
        stated = pq.read_table(world / "presence.parquet").to_pandas()
        if not _same_counts(counts, stated):
            raise FeedError(
                f"{world}: simulating its truth, cells and seed does not give its "
                "presence.parquet; rebuild the world with this version"
            )
    return writer.describe()


def _reporting(buckets: Iterator, on_bucket: Callable[[], None]) -> Iterator:
    for bucket in buckets:
        yield bucket  # the simulation and the feed take the bucket before the next is asked
        on_bucket()


def _same_counts(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if len(a) != len(b):
        return False
    return all(
        np.array_equal(a[c].to_numpy(), b[c].to_numpy())
        for c in ("home_mcc", "devices", "cell_id", "operator")
    ) and bool((a["time"].to_numpy() == b["time"].to_numpy()).all())
