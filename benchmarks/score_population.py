"""Accuracy of present-population estimates against a world's truth.

The only program of the project that reads ``truth.parquet``. Zones: every municipality of
the world, and circles of 200 m to 15 km radius (log-uniform) centred half on random
addresses, half anywhere in the world's municipalities. For every zone and every time bucket
whose truth (people whose position lies in the zone) is at least ``--min-truth``, it compares
each method's published estimate and interval with the truth:

- median and 90th percentile of the absolute relative error of ``estimate``;
- coverage: the share of truths with ``low <= truth <= high``;
- the median error of the raw (unpublished) estimate, to show what rounding and noise cost.

Usage::

    python benchmarks/score_population.py --data /work/data/sample [--circles 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rich.progress import Progress

import geoalert
from geoalert.population.index import ESTIMATORS, PopulationIndex
from geoalert.settings import get_settings
from geoalert.zones import parse_zone

RADIUS_M = (200.0, 15_000.0)
SIZE_BANDS_M = (200, 1000, 3000, 15_001)


def make_zones(data: Path, n_circles: int, seed: int) -> pd.DataFrame:
    """Zones to score: ``kind`` ("municipality" or "circle"), ``name``, ``radius_m``,
    ``geometry`` (EPSG:4326, exactly as the engine builds it from the zone's JSON)."""
    settings = get_settings()
    areas = gpd.read_parquet(data / "areas.parquet")
    munis = areas[areas["level"] == "municipality"]
    rows = [
        {"kind": "municipality", "name": code, "radius_m": np.nan, "geometry": geom}
        for code, geom in zip(munis["code"], munis.geometry, strict=True)
    ]
    rng = np.random.default_rng(seed)
    addresses = gpd.read_parquet(data / "addresses.parquet", columns=["geometry"])
    xy = shapely.get_coordinates(np.asarray(addresses.geometry.values))
    land = shapely.union_all(np.asarray(munis.geometry.values))
    shapely.prepare(land)
    minx, miny, maxx, maxy = land.bounds
    centres = list(xy[rng.choice(len(xy), n_circles // 2, replace=False)])
    while len(centres) < n_circles:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if shapely.intersects_xy(land, x, y):
            centres.append(np.array([x, y]))
    radii = np.exp(rng.uniform(*np.log(RADIUS_M), n_circles))
    for i, ((lon, lat), radius) in enumerate(zip(centres, radii, strict=True)):
        spec = {"circle": {"lon": float(lon), "lat": float(lat), "radius_m": float(radius)}}
        geometry = parse_zone(spec, settings=settings).geometry
        rows.append({"kind": "circle", "name": f"c{i}", "radius_m": radius, "geometry": geometry})
    return pd.DataFrame(rows)


def count_truth(data: Path, zones: pd.DataFrame, times: pd.DatetimeIndex) -> np.ndarray:
    """People of the truth inside each zone (boundary included), shape (n_zones, n_buckets)."""
    geoms = np.asarray(zones["geometry"].values)
    bounds = shapely.bounds(geoms)
    shapely.prepare(geoms)
    counts = np.zeros((len(zones), len(times)), dtype=np.int64)
    with Progress(transient=True) as progress:
        task = progress.add_task("counting the truth", total=len(times) * len(zones))
        for j, t in enumerate(times):
            truth = gpd.read_parquet(
                data / "truth.parquet", columns=["time", "geometry"], filters=[("time", "==", t)]
            )
            xy = shapely.get_coordinates(np.asarray(truth.geometry.values))
            order = np.argsort(xy[:, 0], kind="stable")
            lon, lat = xy[order, 0], xy[order, 1]
            for i, geom in enumerate(geoms):
                lo = np.searchsorted(lon, bounds[i, 0], side="left")
                hi = np.searchsorted(lon, bounds[i, 2], side="right")
                x, y = lon[lo:hi], lat[lo:hi]
                near = (y >= bounds[i, 1]) & (y <= bounds[i, 3])
                counts[i, j] = int(shapely.intersects_xy(geom, x[near], y[near]).sum())
                progress.advance(task)
    return counts


def estimate_all(
    population, index: PopulationIndex, zones: pd.DataFrame, methods: list[str]
) -> pd.DataFrame:
    """Published and raw estimates of every zone, bucket and method (one row each)."""
    rows = []
    times = index.times
    with Progress(transient=True) as progress:
        task = progress.add_task("estimating", total=len(zones) * len(times) * len(methods))
        for z, geom in enumerate(zones["geometry"]):
            for j, t in enumerate(times):
                for method in methods:
                    published = population.resolve(geom, t, method=method)
                    raw = index.estimate(geom, t, method)
                    rows.append(
                        {
                            "zone": z,
                            "bucket": j,
                            "method": method,
                            "estimate": published["estimate"] or 0,
                            "low": published["low"],
                            "high": published["high"],
                            "raw": raw.people,
                        }
                    )
                    progress.advance(task)
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame) -> dict:
    """Error and coverage figures of a group of (zone, bucket) rows."""
    error = (frame["estimate"] - frame["truth"]).abs() / frame["truth"]
    raw_error = (frame["raw"] - frame["truth"]).abs() / frame["truth"]
    covered = (frame["low"] <= frame["truth"]) & (frame["truth"] <= frame["high"])
    return {
        "n": len(frame),
        "median_error": float(error.median()),
        "p90_error": float(error.quantile(0.9)),
        "coverage": float(covered.mean()),
        "raw_median_error": float(raw_error.median()),
        "median_bias": float(((frame["raw"] - frame["truth"]) / frame["truth"]).median()),
        "median_width": float(((frame["high"] - frame["low"]) / frame["truth"]).median()),
    }


def score(data: Path, n_circles: int, seed: int, min_truth: int, methods: list[str]) -> dict:
    """Score every method on one world; returns the figures (and prints a table)."""
    started = time.perf_counter()
    engine = geoalert.Engine.open(data, include=["population"])
    population = engine.indexes["population"]
    index = population._index
    zones = make_zones(data, n_circles, seed)
    truth = count_truth(data, zones, index.times)
    estimates = estimate_all(population, index, zones, methods)
    estimates["truth"] = truth[estimates["zone"], estimates["bucket"]]
    estimates["kind"] = zones["kind"].to_numpy()[estimates["zone"]]
    radius = zones["radius_m"].to_numpy()[estimates["zone"]]
    band = np.digitize(radius, SIZE_BANDS_M)
    estimates.loc[estimates["kind"] == "circle", "kind"] = [
        f"circle {SIZE_BANDS_M[b - 1] / 1000:g}-{min(SIZE_BANDS_M[b], 15000) / 1000:g} km"
        for b in band[estimates["kind"] == "circle"]
    ]
    estimates["time"] = index.times[estimates["bucket"]].strftime("%H:%M")
    scored = estimates[estimates["truth"] >= min_truth]
    result = {
        "data": str(data),
        "zones": len(zones),
        "scored_pairs_per_method": int(len(scored) // max(len(methods), 1)),
        "min_truth": min_truth,
        "seconds": round(time.perf_counter() - started, 1),
        "methods": {},
    }
    for method in methods:
        rows = scored[scored["method"] == method]
        result["methods"][method] = {
            "all": summarise(rows),
            "by_kind": {k: summarise(g) for k, g in rows.groupby("kind")},
            "by_time": {k: summarise(g) for k, g in rows.groupby("time")},
        }
    return result


def print_table(result: dict) -> None:
    print(
        f"{result['data']}: {result['zones']} zones, {result['scored_pairs_per_method']} "
        f"(zone, bucket) pairs with truth >= {result['min_truth']} per method"
    )
    head = f"{'method':24} {'group':18} {'n':>5} {'med err':>8} {'p90 err':>8} {'raw med':>8} {'bias':>7} {'cover':>6} {'width':>6}"
    print(head)
    for method, parts in result["methods"].items():
        groups = {"all": parts["all"], **parts["by_kind"], **parts["by_time"]}
        for name, s in groups.items():
            print(
                f"{method:24} {name:18} {s['n']:5d} {s['median_error']:8.1%} {s['p90_error']:8.1%} "
                f"{s['raw_median_error']:8.1%} {s['median_bias']:+7.1%} {s['coverage']:6.1%} {s['median_width']:6.1%}"
            )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="world directory")
    parser.add_argument("--circles", type=int, default=400, help="number of circle zones")
    parser.add_argument("--seed", type=int, default=7, help="seed of the circle zones")
    parser.add_argument("--min-truth", type=int, default=500, help="smallest truth scored")
    parser.add_argument(
        "--methods", default=",".join(ESTIMATORS), help="comma-separated estimators to score"
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    result = score(args.data, args.circles, args.seed, args.min_truth, args.methods.split(","))
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
