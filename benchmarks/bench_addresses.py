"""Addresses covered by real zones: ``AddressIndex`` against PostGIS, same data, same run.

PostGIS gets the addresses by ``COPY``, a GiST index on the points, ``CLUSTER`` on that
index and ``VACUUM ANALYZE``; each zone is sent once as WKB (EPSG:4326) and timed from the
client, like the index (zones are prepared inside the timed call, as a request would).
Zones are every municipality and every province of the world (``areas.parquet``); counts
must agree with ``ST_Covers`` zone by zone, or the run fails.

Usage::

    python benchmarks/bench_addresses.py --data /work/data/national
    python benchmarks/bench_addresses.py --synthetic 5500000   # without a national world

``--synthetic N`` draws N addresses from the GHSL 1 km population grid (uniform inside each
drawn cell) over the Statbel municipal outlines, for work before a national world exists.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from rich.console import Console
from rich.progress import track
from rich.table import Table

from geoalert.testing.postgis import running_postgis
from geodata.address_index import AddressIndex

SHARED = Path("/work/shared/data")
console = Console()


def synthetic_world(n: int, seed: int = 0) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """``n`` addresses drawn from the population grid, and municipal/provincial areas."""
    munis = gpd.read_file(
        SHARED / "statbel_municipalities" / "be_municipalities_2024_simplified.geojson"
    )
    areas = pd.concat(
        [
            gpd.GeoDataFrame(
                {"code": munis.nis_municipality, "level": "municipality"},
                geometry=munis.geometry,
            ),
            munis.dropna(subset=["nis_province"])
            .dissolve("nis_province")
            .reset_index()
            .rename(columns={"nis_province": "code"})
            .assign(level="province")[["code", "level", "geometry"]],
        ],
        ignore_index=True,
    )
    cells = pd.read_csv(SHARED / "ghsl_pop_1km" / "ghsl_pop2020_1km_cells.csv")
    cells = cells[cells.be_canton.notna()]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(cells), size=int(n * 1.05), p=cells["pop"] / cells["pop"].sum())
    lon = np.round(cells.lon.to_numpy()[pick] + rng.uniform(-0.007, 0.007, len(pick)), 7)
    lat = np.round(cells.lat.to_numpy()[pick] + rng.uniform(-0.0045, 0.0045, len(pick)), 7)
    municipality = np.full(len(pick), None, dtype=object)
    tree = shapely.STRtree(shapely.points(lon, lat))
    for code, geom in zip(munis.nis_municipality, munis.geometry, strict=True):
        municipality[tree.query(geom, predicate="covers")] = code
    keep = np.flatnonzero(municipality != None)[:n]  # noqa: E711 (element-wise)
    addresses = pd.DataFrame(
        {
            "address_id": np.arange(len(keep), dtype=np.int64) + 1,
            "municipality": municipality[keep],
            "lon": lon[keep],
            "lat": lat[keep],
        }
    )
    return addresses, areas


def world(data: Path) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Addresses (``address_id``, ``municipality``, ``lon``, ``lat``) and areas of a world."""
    frame = gpd.read_parquet(data / "addresses.parquet")
    xy = shapely.get_coordinates(frame.geometry.values)
    addresses = pd.DataFrame(
        {
            "address_id": frame.address_id.to_numpy(),
            "municipality": frame.municipality.to_numpy(),
            "lon": xy[:, 0],
            "lat": xy[:, 1],
        }
    )
    return addresses, gpd.read_parquet(data / "areas.parquet")


def load_postgis(conn: psycopg.Connection, addresses: pd.DataFrame) -> None:
    """Copy the addresses into ``addresses(address_id, municipality, geom)`` with a GiST index."""
    steps = [
        "CREATE UNLOGGED TABLE staging (address_id bigint, municipality text, "
        "lon float8, lat float8)",
        None,
        "CREATE TABLE addresses AS SELECT address_id, municipality, "
        "ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom FROM staging",
        "DROP TABLE staging",
        "CREATE INDEX addresses_geom ON addresses USING gist (geom)",
        "CLUSTER addresses USING addresses_geom",
        "VACUUM ANALYZE addresses",
    ]
    for step in track(steps, description="PostGIS: COPY, GiST index, CLUSTER, ANALYZE"):
        if step is not None:
            conn.execute(step)
            continue
        with conn.cursor().copy("COPY staging FROM STDIN") as copy:
            for start in range(0, len(addresses), 500_000):
                buf = io.StringIO()
                addresses.iloc[start : start + 500_000].to_csv(
                    buf, sep="\t", header=False, index=False, float_format="%.17g"
                )
                copy.write(buf.getvalue())


COUNT_SQL = "SELECT count(*) FROM addresses WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), geom)"
GROUP_SQL = (
    "SELECT municipality, count(*) FROM addresses "
    "WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), geom) GROUP BY municipality"
)


def time_postgis(conn: psycopg.Connection, zones: list, label: str) -> tuple:
    """Seconds per zone for the count and for the per-municipality count, and the results."""
    counts, groups, t_count, t_group = [], [], [], []
    with conn.cursor() as cur:
        for zone in track(zones, description=f"PostGIS {label}"):
            wkb = shapely.to_wkb(zone)
            t = time.perf_counter()
            cur.execute(COUNT_SQL, (wkb,), prepare=True)
            counts.append(cur.fetchone()[0])
            t_count.append(time.perf_counter() - t)
            t = time.perf_counter()
            cur.execute(GROUP_SQL, (wkb,), prepare=True)
            groups.append(dict(cur.fetchall()))
            t_group.append(time.perf_counter() - t)
    return np.array(t_count), np.array(t_group), counts, groups


def time_index(index: AddressIndex, zones: list, label: str, repeat: int) -> tuple:
    """Seconds for count and per-municipality counts, shape (repeat, zones)."""
    t_count = np.empty((repeat, len(zones)))
    t_group = np.empty((repeat, len(zones)))
    for run in track(range(repeat), description=f"index {label} x{repeat}"):
        for i, zone in enumerate(zones):
            fresh = shapely.from_wkb(shapely.to_wkb(zone))  # unprepared, as a request brings it
            t = time.perf_counter()
            index.select(fresh).count  # noqa: B018 (timed)
            t_count[run, i] = time.perf_counter() - t
            fresh = shapely.from_wkb(shapely.to_wkb(zone))
            t = time.perf_counter()
            index.select(fresh).municipality_counts()
            t_group[run, i] = time.perf_counter() - t
    return t_count, t_group


def exact_results(index: AddressIndex, zones: list) -> tuple[list, list]:
    """Counts and per-municipality counts of the index, zone by zone."""
    selections = [index.select(zone) for zone in zones]
    return [s.count for s in selections], [s.municipality_counts() for s in selections]


def machine() -> str:
    """CPU model and count, memory and Python, for the results file."""
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "Model name" in line),
        platform.processor(),
    )
    with open("/proc/meminfo") as f:
        mem_gb = int(f.readline().split()[1]) / 1024**2
    return f"{model}, {len(os.sched_getaffinity(0))} CPUs, {mem_gb:.0f} GB, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="world directory (geoalert demo-data --out)")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic addresses")
    parser.add_argument("--repeat", type=int, default=5, help="index runs per zone")
    args = parser.parse_args()

    with console.status("reading the world"):
        addresses, areas = (
            world(args.data) if args.data else synthetic_world(args.synthetic, seed=0)
        )
    t = time.perf_counter()
    index = AddressIndex(
        addresses.address_id.to_numpy(),
        addresses.lon.to_numpy(),
        addresses.lat.to_numpy(),
        addresses.municipality.to_numpy(dtype=object),
    )
    build_s = time.perf_counter() - t
    zones = {
        level: list(areas.geometry[areas.level == level]) for level in ("municipality", "province")
    }

    table = Table(title=f"{len(index):,} addresses, index built in {build_s:.1f} s")
    for column in ("zones", "query", "PostGIS p50", "p99", "index p50", "p99", "speedup p50"):
        table.add_column(column, justify="right")
    # speedup: median over zones of PostGIS time / index time (median of the index runs)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_postgis(tmp) as url,
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn,
    ):
        load_postgis(conn, addresses)
        for level, level_zones in zones.items():
            time_postgis(conn, level_zones[: min(20, len(level_zones))], f"{level} warm-up")
            pg_count, pg_group, pg_counts, pg_groups = time_postgis(conn, level_zones, level)
            counts, groups = exact_results(index, level_zones)
            wrong = [
                i
                for i in range(len(counts))
                if (counts[i], groups[i]) != (pg_counts[i], pg_groups[i])
            ]
            if wrong:
                raise SystemExit(f"{len(wrong)} {level} zones differ from PostGIS: {wrong[:10]}")
            ix_count, ix_group = time_index(index, level_zones, level, args.repeat)
            for query, pg, ix in (
                ("count", pg_count, ix_count),
                ("by municipality", pg_group, ix_group),
            ):
                table.add_row(
                    f"{len(level_zones)} {level}",
                    query,
                    f"{np.median(pg) * 1e3:.1f} ms",
                    f"{np.percentile(pg, 99) * 1e3:.1f} ms",
                    f"{np.median(ix) * 1e3:.2f} ms",
                    f"{np.percentile(ix, 99) * 1e3:.2f} ms",
                    f"{np.median(pg / np.median(ix, axis=0)):.0f}x",
                )
    console.print(table)
    console.print(
        f"{machine()}; {datetime.date.today().isoformat()}; exact: all zones equal PostGIS"
    )


if __name__ == "__main__":
    main()
