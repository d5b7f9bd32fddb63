"""Build the demo world: every file of the world schema, from the priors, in one call."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

import geoalert
from cells import priors as network_priors
from cells.feeds.writer import FeedWriter
from cells.synth.network import METRIC_CRS as NETWORK_CRS
from cells.synth.network import synthesize_cells
from cells.synth.presence import simulate_presence
from geoalert.settings import get_settings
from geodata import priors
from geodata.stores.embedded import STORE_FILE
from geodata.synth import addresses as addr
from geodata.synth import contacts as reg
from geodata.synth import day as daymod
from geodata.synth import people as ppl
from geodata.synth.areas import build_areas, dissolve, near_brussels, restrict
from geodata.synth.geography import Geography
from geodata.synth.grid import cut_grid, to_lonlat
from geodata.synth.parquet import PointWriter, write_parquet
from geodata.synth.sampling import step_rng

SCALES = ("sample", "national")
FEED_DIR = "events"
FILES = (
    "areas.parquet",
    "cells.parquet",
    "addresses.parquet",
    "contacts.parquet",
    "groups.parquet",
    "truth.parquet",
    "presence.parquet",
)

ADDRESS_SCHEMA = pa.schema(
    [pa.field("address_id", pa.int64(), nullable=False), pa.field("municipality", pa.string())]
)
TRUTH_SCHEMA = pa.schema(
    [
        pa.field("person_id", pa.int64(), nullable=False),
        pa.field("time", pa.timestamp("ns", tz=daymod.TIMEZONE), nullable=False),
        pa.field("home_mcc", pa.int16(), nullable=False),
    ]
)


def build_world(
    out_dir: str | Path,
    scale: str = "sample",
    seed: int = 0,
    progress: bool = True,
    events: bool = False,
    events_share: float = 1.0,
    events_shards: int = 16,
) -> dict:
    """Build the demo world into ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write into (created if needed); the world's files replace any there, and
        appear only once all of them are built.
    scale : {"sample", "national"}
        ``"sample"``: the Brussels-Capital Region and the municipalities that touch it, i.e.
        the national world seen through that window (its residents, the commuters and
        visitors who come in by day, and only the positions inside it); ``"national"``:
        Belgium.
    seed : int
        Non-negative; the same seed gives byte-identical data files.
    progress : bool
        Show rich progress bars.
    events : bool
        Also write the network event feed of the simulated devices into ``out_dir/events``
        (:mod:`cells.feeds`); any previous feed there is removed either way.
    events_share : float
        Share of the devices in the feed, in (0, 1] (:class:`cells.feeds.writer.FeedWriter`).
    events_shards : int
        Device shards of the feed.

    Returns
    -------
    dict
        The manifest, also written to ``out_dir/manifest.json``.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, not {scale!r}")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    seed = int(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = out / ".building"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    started = time.perf_counter()
    try:
        with _steps(progress) as step:
            feed = {"share": events_share, "shards": events_shards} if events else None
            counts, extent = _build(stage, scale, seed, step, feed)
        manifest = _manifest(scale, seed, counts, extent, time.perf_counter() - started)
        manifest["build_steps"] = step.seconds
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for name in (*FILES, "manifest.json"):
            os.replace(stage / name, out / name)
        # The embedded store was seeded from the previous world's contacts and groups.
        for stale in out.glob(f"{STORE_FILE}*"):
            stale.unlink()
        shutil.rmtree(out / FEED_DIR, ignore_errors=True)
        if events:
            os.replace(stage / FEED_DIR, out / FEED_DIR)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _build(stage: Path, scale: str, seed: int, step, feed: dict | None) -> tuple[dict, tuple]:
    """Write the world's files into ``stage``, and its event feed with the ``FeedWriter``
    options ``feed`` unless None."""
    metric = get_settings().metric_crs
    counts: dict[str, int] = {}

    with step("Areas"):
        municipalities = priors.municipalities()
        areas = build_areas(municipalities, metric)
        if scale == "sample":
            in_world = near_brussels(municipalities, metric)
            areas = restrict(areas, municipalities["code"][in_world])
        else:
            in_world = np.ones(len(municipalities), dtype=bool)
        extent = dissolve(municipalities.geometry.values[in_world], metric)
        write_parquet(areas, stage / "areas.parquet")
        counts["areas.parquet"] = len(areas)

    with step("Grid pieces"):
        grid = priors.grid()
        pieces = cut_grid(grid, municipalities.geometry.values)
        geo = Geography(
            municipalities=municipalities,
            pieces=pieces,
            residents=addr.resident_counts(pieces),
            in_world=in_world,
            places=priors.places(),
            metric_crs=metric,
        )

    with step("Addresses"):
        per_piece = addr.address_counts(pieces) * in_world[pieces.municipality]
        piece, lon, lat = addr.place_addresses(pieces, per_piece, step_rng(seed, "addresses"))
        geo.set_addresses(piece, lon, lat)
        codes = municipalities["code"].to_numpy(dtype=object)[pieces.municipality[piece]]
        with PointWriter(stage / "addresses.parquet", ADDRESS_SCHEMA) as writer:
            ids = np.arange(1, len(piece) + 1, dtype=np.int64)
            writer.write({"address_id": ids, "municipality": codes}, lon, lat)
        counts["addresses.parquet"] = writer.rows

    with step("People and destinations"):
        rng = step_rng(seed, "people")
        people = ppl.residents(geo, rng)
        destinations = ppl.Destinations(geo, grid)
        ppl.send_to_destinations(people, destinations, rng)
        parts = [people]
        if scale != "national":
            parts.append(ppl.commuters_from_outside(destinations, len(people) + 1, rng))
        parts.append(ppl.visitors(geo, sum(len(p) for p in parts) + 1, rng))
        people = ppl.People.concat(parts)

    with step("Cells"):
        cells = synthesize_cells(_network_grid(grid, pieces, in_world, NETWORK_CRS), extent, seed)
        write_parquet(cells, stage / "cells.parquet")
        counts["cells.parquet"] = len(cells)

    day = daymod.Day(people, geo, None if scale == "national" else extent, seed)
    with (
        step("Truth and presence", total=len(daymod.BUCKET_HOURS)) as advance,
        PointWriter(stage / "truth.parquet", TRUTH_SCHEMA) as truth,
        FeedWriter(
            stage / FEED_DIR,
            cells["cell_id"].to_numpy(dtype=object),
            pd.DatetimeIndex(daymod.bucket_times()),
            daymod.BUCKET_LENGTH,
            seed,
            **feed,
        )
        if feed is not None
        else nullcontext() as feed_writer,
    ):

        def buckets() -> Iterator[tuple]:
            for bucket in day.buckets():
                time_, person_id, lon, lat, home_mcc = bucket
                when = np.full(len(person_id), time_.value, dtype=np.int64)
                truth.write({"person_id": person_id, "time": when, "home_mcc": home_mcc}, lon, lat)
                yield bucket
                advance()

        presence = simulate_presence(
            buckets(),
            cells,
            seed,
            on_attached=None if feed_writer is None else feed_writer.write_bucket,
        )
        write_parquet(presence, stage / "presence.parquet")
    counts["truth.parquet"] = truth.rows
    counts["presence.parquet"] = len(presence)

    with step("Contacts and groups"):
        rng = step_rng(seed, "contacts")
        region = municipalities["region_code"].to_numpy(dtype=object)
        german = municipalities["name_de"].notna().to_numpy()
        contacts = reg.contacts(people, region, german, len(geo.address_lon), rng)
        groups = reg.groups(contacts, areas, municipalities["code"].to_numpy(dtype=object), rng)
        write_parquet(contacts.drop(columns="municipality"), stage / "contacts.parquet")
        write_parquet(groups, stage / "groups.parquet")
        counts["contacts.parquet"] = len(contacts)
        counts["groups.parquet"] = len(groups)
    return counts, shapely.bounds(extent).tolist()


def _network_grid(grid: pd.DataFrame, pieces, in_world: np.ndarray, crs: str) -> pd.DataFrame:
    """The 1 km grid restricted to the world: per cell, the population, built-up surface and
    area of its part inside the world; centre in lon/lat and in ``crs`` metres."""
    world = in_world[pieces.municipality]
    cell, index = np.unique(pieces.cell[world], return_inverse=True)
    total = {
        name: np.bincount(index, values[world], minlength=len(cell))
        for name, values in (
            ("pop", pieces.pop),
            ("built_m2", pieces.built_m2),
            ("cell_km2", pieces.area_km2),
        )
    }
    lon, lat = to_lonlat(grid["x"].to_numpy(np.float64)[cell], grid["y"].to_numpy(np.float64)[cell])
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    return pd.DataFrame({"lon": lon, "lat": lat, "x": x, "y": y, **total})


def _manifest(scale: str, seed: int, counts: dict, extent: list, seconds: float) -> dict:
    return {
        "scale": scale,
        "seed": seed,
        "crs": "EPSG:4326",
        "counts": counts,
        "buckets": {
            "times": [t.isoformat() for t in daymod.bucket_times()],
            "length": pd.Timedelta(daymod.BUCKET_LENGTH).isoformat(),
            "timezone": daymod.TIMEZONE,
        },
        "extent": {"bbox": [round(v, 6) for v in extent]},
        "sources": [*priors.SOURCES, *network_priors.SOURCES],
        "software": {"geoalert": geoalert.__version__},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }


@contextmanager
def _steps(show: bool):
    """A ``step(name, total=1)`` context factory with one rich progress bar per step; the
    factory's ``seconds`` maps each finished step to its wall time."""
    columns = (
        SpinnerColumn(),
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=not show, transient=False) as bars:
        seconds: dict[str, float] = {}

        @contextmanager
        def step(name: str, total: int = 1):
            task = bars.add_task(name, total=total)
            started = time.perf_counter()

            def advance(n: int = 1) -> None:
                bars.advance(task, n)

            yield advance
            bars.update(task, completed=total)
            seconds[name] = round(time.perf_counter() - started, 2)

        step.seconds = seconds
        yield step
