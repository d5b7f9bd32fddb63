"""Cells touched by real zones: ``Engine.resolve`` against PostGIS, same data, same run.

PostGIS gets the world's cells by ``COPY`` (coverage as EWKB, EPSG:4326), a GiST index,
``CLUSTER`` on it and ``VACUUM ANALYZE``. Each zone (every municipality, then every province
of ``areas.parquet``) is sent as GeoJSON text to a prepared
``SELECT cell_id FROM cells WHERE ST_Intersects(geom, ST_GeomFromGeoJSON($1))`` and timed from
the client until the ids are fetched. The session runs with ``plan_cache_mode =
force_custom_plan``: with PostgreSQL's generic plan for a prepared statement the zone is
parsed again for every candidate row, five times slower; PostGIS gets its best plan here. The engine gets the same GeoJSON text and is timed for
the whole call: parsing and checking the zone, selecting the cells and taking their ids
(``engine.resolve(text, include=["cells"])["cells"].cell_ids``, a NumPy array of str: the
result stays arrays until ``to_dict()``).
Each round times the zones, a chunk at a time, on one side, then on the other (see
:func:`bench`); the cell sets must agree zone by zone, or the run fails. ``to_dict()``
(per-cell records, overshoot and undershoot, warning areas) is timed apart.

Usage::

    python benchmarks/bench_cells.py --data /work/data/national [--rounds 5] [--chunk 50]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from machine import machine
from rich.console import Console
from rich.table import Table

import geoalert
from geoalert.testing.postgis import running_postgis
from geoalert.zones import to_geojson

console = Console(width=220)
SQL = "SELECT cell_id FROM cells WHERE ST_Intersects(geom, ST_GeomFromGeoJSON(%s))"


def load_postgis(conn: psycopg.Connection, cells: gpd.GeoDataFrame) -> None:
    """Copy the cells into ``cells(cell_id, operator, geom)`` with a GiST index."""
    conn.execute("CREATE TABLE cells (cell_id text PRIMARY KEY, operator text, geom geometry)")
    wkb = shapely.to_wkb(cells.geometry.values, hex=True, include_srid=False)
    with conn.cursor().copy("COPY cells (cell_id, operator, geom) FROM STDIN") as copy:
        for row in zip(cells["cell_id"], cells["operator"], wkb, strict=True):
            copy.write_row(row)
    for step in (
        "UPDATE cells SET geom = ST_SetSRID(geom, 4326)",
        "ALTER TABLE cells ALTER COLUMN geom TYPE geometry(Geometry, 4326)",
        "CREATE INDEX cells_geom ON cells USING gist (geom)",
        "CLUSTER cells USING cells_geom",
        "VACUUM ANALYZE cells",
    ):
        conn.execute(step)


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p90, p99 in milliseconds."""
    p = np.percentile(np.asarray(seconds) * 1e3, [50, 90, 99])
    return float(p[0]), float(p[1]), float(p[2])


def cpu_clock(pid: int) -> int:
    """Id of the CPU-time clock of process ``pid`` (Linux ``clock_getcpuclockid``)."""
    return ((~pid) << 3) | 2


def bench(
    engine, conn, zones: list[tuple[str, str]], rounds: int, chunk: int, seed: int = 0
) -> dict:
    """Time both sides on every zone, ``rounds`` times, checking that they agree.

    Each round takes the zones in a fresh shuffled order, ``chunk`` at a time: every zone
    of a chunk on one side, then on the other (which side goes first alternates). Each
    side runs in its own steady state rather than evicting the other's caches between two
    calls, and both sides meet the same moments of a shared machine, whose speed here
    swings by up to 2x within seconds (whole rounds per side left the engine's short
    blocks to a few such moments). Besides wall-clock time, the CPU time of each call is
    kept (for PostGIS: its server process plus the client's call).
    """
    rng = np.random.default_rng(seed)
    wall = {"engine": [], "postgis": []}
    cpu = {"engine": [], "postgis": []}
    server = cpu_clock(conn.info.backend_pid)

    def postgis(text: str) -> list[str]:
        return [row[0] for row in conn.execute(SQL, (text,), prepare=True).fetchall()]

    def ours(text: str) -> list[str]:
        return engine.resolve(text, include=["cells"])["cells"].cell_ids

    sides = {"engine": ours, "postgis": postgis}
    for round_ in range(rounds):
        # No progress drawn between timed calls: it would evict both sides' caches.
        console.log(f"round {round_ + 1}/{rounds}: {len(zones)} zones")
        order = rng.permutation(len(zones))
        for n, first in enumerate(range(0, len(order), chunk)):
            for side in ("engine", "postgis") if (round_ + n) % 2 else ("postgis", "engine"):
                run = sides[side]
                for i in order[first : first + chunk]:
                    server_start = time.clock_gettime(server)
                    start, cpu_start = time.perf_counter(), time.thread_time()
                    run(zones[i][1])
                    wall[side].append(time.perf_counter() - start)
                    used = time.thread_time() - cpu_start
                    if side == "postgis":
                        used += time.clock_gettime(server) - server_start
                    cpu[side].append(used)
    counts, dicts = [], []
    for code, text in zones:
        ids = ours(text)
        if sorted(ids.tolist()) != sorted(postgis(text)):
            raise AssertionError(f"zone {code}: engine and PostGIS disagree")
        counts.append(len(ids))
        start = time.perf_counter()
        engine.resolve(text, include=["cells"]).to_dict()
        dicts.append(time.perf_counter() - start)
    return {
        "zones": len(zones),
        "cells": float(np.median(counts)),
        "engine": percentiles(wall["engine"]),
        "postgis": percentiles(wall["postgis"]),
        "cpu_engine": percentiles(cpu["engine"]),
        "cpu_postgis": percentiles(cpu["postgis"]),
        "to_dict": percentiles(dicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="world directory")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the zones")
    parser.add_argument(
        "--chunk", type=int, default=50, help="zones timed on one side, then the other"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    engine = geoalert.Engine.open(args.data, include=["cells"])
    opened = time.perf_counter() - started
    cells = engine.store.read_cells()
    areas = engine.store.read_areas()
    levels = {
        level: [
            (code, json.dumps(to_geojson(geometry)))
            for code, geometry in zip(frame["code"], frame.geometry.values, strict=True)
        ]
        for level, frame in areas.groupby("level")
    }
    console.print(f"{len(cells):,} cells; engine opened in {opened:.1f} s")
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory() as tmp, running_postgis(tmp) as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET plan_cache_mode = force_custom_plan")
            start = time.perf_counter()
            load_postgis(conn, cells)
            console.print(f"PostGIS loaded in {time.perf_counter() - start:.1f} s")
            version = conn.execute("SELECT postgis_full_version()").fetchone()[0].split('"')[1]
            results = {
                level: bench(
                    engine,
                    conn,
                    levels[level],
                    args.rounds if level == "municipality" else 1,
                    args.chunk,
                )
                for level in ("municipality", "province")
            }
    table = Table(title=f"Zones to cells, {len(cells):,} cells ({when})")
    for column in (
        "zones",
        "median cells",
        "engine p50/p90/p99 ms",
        "PostGIS p50/p90/p99 ms",
        "speed-up (p50)",
        "engine CPU p50/p90/p99 ms",
        "PostGIS CPU p50/p90/p99 ms",
        "CPU speed-up (p50)",
        "to_dict p50/p99 ms",
    ):
        table.add_column(column)
    for level, r in results.items():
        table.add_row(
            f"{r['zones']} {level}",
            f"{r['cells']:.0f}",
            "/".join(f"{v:.3f}" for v in r["engine"]),
            "/".join(f"{v:.3f}" for v in r["postgis"]),
            f"{r['postgis'][0] / r['engine'][0]:.1f}x",
            "/".join(f"{v:.3f}" for v in r["cpu_engine"]),
            "/".join(f"{v:.3f}" for v in r["cpu_postgis"]),
            f"{r['cpu_postgis'][0] / r['cpu_engine'][0]:.1f}x",
            f"{r['to_dict'][0]:.2f}/{r['to_dict'][2]:.2f}",
        )
    console.print(table)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    console.print(
        f"Machine: {machine()}; load average {load}; shapely {shapely.__version__} "
        f"(GEOS {shapely.geos_version_string}); PostGIS {version}"
    )


if __name__ == "__main__":
    main()
