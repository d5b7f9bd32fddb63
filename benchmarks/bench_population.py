"""Present population per zone: the engine against PostGIS, same densities, same run.

The engine's answer for a zone is the sum, over the tiles the zone covers, of each tile's
people weighted by the share of the tile inside the zone, read from row-wise prefix sums
along scanlines. PostGIS computes the same sum exactly from the tiles as polygons (EPSG of the
metric CRS, GiST index, clustered, analysed) with ``ST_Intersection`` areas. Both get every
municipality of the world as WKB (EPSG:4326); each PostGIS answer must agree with the
engine's raw sum within 0.5 %, or the run fails.

Timed for the engine: the whole ``engine.resolve({"area": code}, include=["population"])``
call (zone parsing, estimate, interval, noise, publication), in wall time and in CPU time of
the calling thread (which a busy machine does not inflate), and the raw sum alone.

Usage::

    python benchmarks/bench_population.py --data /work/data/national [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import shapely
from machine import machine
from rich.console import Console
from rich.progress import track
from rich.table import Table

import geoalert
from geoalert.testing.postgis import running_postgis

console = Console()

SUM_SQL = (
    "WITH z AS (SELECT ST_Transform(ST_GeomFromWKB(%s, 4326), {srid}) AS g) "
    "SELECT coalesce(sum(t.people * ST_Area(ST_Intersection(t.geom, z.g)) / {area}), 0) "
    "FROM tiles t, z WHERE ST_Intersects(t.geom, z.g)"
)


def tile_people(population, method: str, bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile numbers and raw people per tile (non-zero tiles) of one method and bucket."""
    index = population._index
    grid = index.plan.grid
    prefix = index.prefix(method)[bucket].astype(np.float64)
    devices = np.diff(prefix, axis=1)  # (ny, nx, n_series)
    # every operator's devices (domestic and roaming) over devices per person
    people = devices[..., :-1].sum(axis=-1) / index.calibration.devices_per_person[bucket]
    flat = people.reshape(-1)
    tiles = np.flatnonzero(np.abs(flat) > 1e-9)
    assert grid.n_tiles == len(flat)
    return tiles, flat[tiles]


def load_postgis(conn: psycopg.Connection, grid, tiles: np.ndarray, people: np.ndarray, srid: int):
    """Copy the tiles into ``tiles(people, geom)`` as squares with a GiST index."""
    cx, cy = grid.centres(tiles)
    half = grid.size / 2
    steps = [
        "CREATE UNLOGGED TABLE staging (people float8, x float8, y float8)",
        None,
        f"CREATE TABLE tiles AS SELECT people, ST_MakeEnvelope(x - {half}, y - {half}, "
        f"x + {half}, y + {half}, {srid}) AS geom FROM staging",
        "DROP TABLE staging",
        "CREATE INDEX tiles_geom ON tiles USING gist (geom)",
        "CLUSTER tiles USING tiles_geom",
        "VACUUM ANALYZE tiles",
    ]
    for step in track(steps, description="PostGIS: COPY tiles, GiST index, CLUSTER, ANALYZE"):
        if step is not None:
            conn.execute(step)
            continue
        with conn.cursor().copy("COPY staging FROM STDIN") as copy:
            for start in range(0, len(tiles), 500_000):
                buf = io.StringIO()
                block = np.column_stack(
                    (
                        people[start : start + 500_000],
                        cx[start : start + 500_000],
                        cy[start : start + 500_000],
                    )
                )
                np.savetxt(buf, block, delimiter="\t", fmt="%.17g")
                copy.write(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="world directory")
    parser.add_argument("--repeat", type=int, default=5, help="engine runs per zone")
    args = parser.parse_args()

    t = time.perf_counter()
    engine = geoalert.Engine.open(args.data, include=["population"])
    open_s = time.perf_counter() - t
    population = engine.indexes["population"]
    index = population._index
    areas = engine.store.read_areas()
    munis = areas[areas["level"] == "municipality"]
    codes = munis["code"].tolist()
    geoms = list(munis.geometry)
    bucket = len(index.times) - 1
    method = index.method

    # warm the per-bucket densities, then time
    engine.resolve({"area": codes[0]}, include=["population"])
    whole = np.empty((args.repeat, len(codes)))
    whole_cpu = np.empty((args.repeat, len(codes)))
    raw = np.empty((args.repeat, len(codes)))
    for run in track(range(args.repeat), description=f"engine x{args.repeat}"):
        for i, (code, geom) in enumerate(zip(codes, geoms, strict=True)):
            t, c = time.perf_counter(), time.thread_time()
            engine.resolve({"area": code}, include=["population"])
            whole[run, i] = time.perf_counter() - t
            whole_cpu[run, i] = time.thread_time() - c
            fresh = shapely.from_wkb(shapely.to_wkb(geom))
            t = time.perf_counter()
            index.estimate(fresh, None, method)
            raw[run, i] = time.perf_counter() - t
    ours = np.array([index.estimate(g, None, method).people for g in geoms])

    srid = int(index.metric_crs.split(":")[1])
    tiles, people = tile_people(population, method, bucket)
    sql = SUM_SQL.format(srid=srid, area=index.plan.grid.size**2)
    pg_t, pg_v = [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_postgis(tmp) as url,
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn,
    ):
        load_postgis(conn, index.plan.grid, tiles, people, srid)
        with conn.cursor() as cur:
            for geom in geoms[:20]:
                cur.execute(sql, (shapely.to_wkb(geom),), prepare=True)
            for geom in track(geoms, description="PostGIS"):
                t = time.perf_counter()
                cur.execute(sql, (shapely.to_wkb(geom),), prepare=True)
                pg_v.append(cur.fetchone()[0])
                pg_t.append(time.perf_counter() - t)
    pg_t, pg_v = np.array(pg_t), np.array(pg_v)
    gap = np.abs(ours - pg_v) / np.maximum(pg_v, 1.0)
    if (gap > 0.005).any():
        bad = np.flatnonzero(gap > 0.005)
        raise SystemExit(
            f"{len(bad)} zones differ from PostGIS by > 0.5 %: {[codes[i] for i in bad[:10]]}"
        )

    table = Table(
        title=f"{len(codes)} municipalities, {index.plan.n_cells:,} cells, "
        f"{index.plan.grid.n_tiles:,} tiles of {index.plan.grid.size:g} m; engine opened in {open_s:.1f} s"
    )
    for column in ("query", "p50", "p99", "max"):
        table.add_column(column, justify="right")
    for name, secs in (
        ("engine.resolve (whole call)", whole),
        ("  the same, CPU time of the thread", whole_cpu),
        ("raw estimate only", raw),
        ("PostGIS exact area weighting", pg_t),
    ):
        table.add_row(
            name,
            f"{np.median(secs) * 1e3:.2f} ms",
            f"{np.percentile(secs, 99) * 1e3:.2f} ms",
            f"{secs.max() * 1e3:.2f} ms",
        )
    console.print(table)
    console.print(
        f"speedup (median over zones, PostGIS / engine whole call): "
        f"{np.median(pg_t / np.median(whole, axis=0)):.0f}x; largest gap to PostGIS "
        f"{gap.max():.3%}; {machine()}; {datetime.date.today().isoformat()}"
    )


if __name__ == "__main__":
    main()
