"""National-scale timing of the network synthesis and the presence simulation.

Usage::

    python benchmarks/bench_world_network.py [--truth WORLD/truth.parquet] [--seed 0]
    python benchmarks/bench_world_network.py --world WORLD   # presence only, on a built world

Builds the national 1 km grid and extent from ``geodata/priors`` (cells whose centre lies in a
Belgian municipality), times :func:`cells.synth.network.synthesize_cells`, then times
:func:`cells.synth.presence.simulate_presence` on a national truth: the buckets of a built
world's ``truth.parquet`` if given, else 11.5 M synthetic people placed by the grid (2% foreign
visitors, 40% of them moving towards denser cells by day). With ``--world``, times only the
presence simulation on that world's own cells and truth. Reports wall and CPU seconds and the
peak resident memory each step adds to the process (setup outside the timers).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyproj
import shapely

from cells.feeds.world import read_truth_buckets
from cells.synth.network import METRIC_CRS, synthesize_cells
from cells.synth.presence import simulate_presence
from geodata import priors

PEOPLE = 11_500_000
HOURS = (3, 8, 14, 20)


def national_grid() -> tuple[pd.DataFrame, shapely.Geometry]:
    """The agreed grid columns for every GHSL cell centred in Belgium, and Belgium's outline."""
    extent = shapely.union_all(priors.municipalities().geometry.values)
    g = priors.grid()
    lon, lat = pyproj.Transformer.from_crs(priors.GRID_CRS, "EPSG:4326", always_xy=True).transform(
        g["x"].to_numpy(float), g["y"].to_numpy(float)
    )
    keep = shapely.contains_xy(extent, lon, lat)
    x, y = pyproj.Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True).transform(
        lon[keep], lat[keep]
    )
    grid = pd.DataFrame(
        {
            "lon": lon[keep],
            "lat": lat[keep],
            "x": x,
            "y": y,
            "pop": g["pop"].to_numpy(float)[keep],
            "built_m2": g["built_m2"].to_numpy(float)[keep],
            "cell_km2": 1.0,
        }
    )
    return grid, extent


def truth_buckets(path: Path) -> list:
    """Buckets of a world's truth, read into memory (outside the timer)."""
    times = pq.read_table(path, columns=["time"])["time"].unique().to_pandas()
    return list(read_truth_buckets(path, pd.DatetimeIndex(times).sort_values()))


def synthetic_buckets(grid: pd.DataFrame, seed: int) -> list:
    """11.5 M people by the grid, the same ones in every bucket, some moving by day."""
    rng = np.random.default_rng(seed)
    p = grid["pop"].to_numpy() / grid["pop"].sum()
    home = rng.choice(len(grid), PEOPLE, p=p)
    dlon, dlat = 0.014, 0.009  # about one grid cell
    lon = grid["lon"].to_numpy()[home] + rng.uniform(-dlon / 2, dlon / 2, PEOPLE)
    lat = grid["lat"].to_numpy()[home] + rng.uniform(-dlat / 2, dlat / 2, PEOPLE)
    person_id = np.arange(1, PEOPLE + 1, dtype=np.int64)
    home_mcc = np.where(rng.random(PEOPLE) < 0.02, 262, 206).astype(np.int16)
    out = []
    for hour in HOURS:
        t = pd.Timestamp(f"2024-03-12 {hour:02d}:00", tz="Europe/Brussels")
        if hour in (3, 20):
            out.append((t, person_id, lon, lat, home_mcc))
            continue
        move = np.flatnonzero(rng.random(PEOPLE) < 0.4)
        to = rng.choice(len(grid), move.size, p=p**1.3 / np.sum(p**1.3))
        day_lon, day_lat = lon.copy(), lat.copy()
        day_lon[move] = grid["lon"].to_numpy()[to] + rng.uniform(-dlon / 2, dlon / 2, move.size)
        day_lat[move] = grid["lat"].to_numpy()[to] + rng.uniform(-dlat / 2, dlat / 2, move.size)
        out.append((t, person_id, day_lon, day_lat, home_mcc))
    return out


def memory_gb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1e6
    raise RuntimeError(f"no {field} in /proc/self/status")


def timed(label: str, fn):
    """Run ``fn`` with wall and CPU timers and the peak resident memory reset before it."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = memory_gb("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = memory_gb("VmHWM")
    print(
        f"{label}: wall {wall:.1f} s, cpu {cpu:.1f} s; resident {before:.2f} GB before, "
        f"peak {peak:.2f} GB (+{peak - before:.2f} GB)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, help="truth.parquet of a national world")
    parser.add_argument("--world", type=Path, help="a built world: presence on its cells")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    if args.world:
        import geopandas as gpd

        cells = gpd.read_parquet(args.world / "cells.parquet")
        buckets = truth_buckets(args.world / "truth.parquet")
        print(f"{args.world}: {len(cells):,} cells, {sum(len(b[1]) for b in buckets):,} truth rows")
        timed("simulate_presence", lambda: simulate_presence(iter(buckets), cells, args.seed))
        return

    grid, extent = national_grid()
    print(f"grid: {len(grid):,} cells, {grid['pop'].sum():,.0f} people")
    cells = timed("synthesize_cells", lambda: synthesize_cells(grid, extent, args.seed))
    print(
        f"  {len(cells):,} cells, {cells['site_id'].nunique():,} masts, "
        f"{len(cells.drop_duplicates(['site_id', 'operator'])):,} site-operators"
    )
    if args.truth:
        buckets = truth_buckets(args.truth)
        print(f"truth: {args.truth}, {sum(len(b[1]) for b in buckets):,} rows")
    else:
        buckets = synthetic_buckets(grid, args.seed)
        print(f"truth: {PEOPLE:,} synthetic people x {len(HOURS)} buckets")
    feed = timed("simulate_presence", lambda: simulate_presence(iter(buckets), cells, args.seed))
    print(
        f"  {len(feed):,} rows; devices per bucket: {feed.groupby('time')['devices'].sum().tolist()}"
    )


if __name__ == "__main__":
    main()
