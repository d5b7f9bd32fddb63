"""Event feed to presence counts on Dask: events per second, by events and by workers.

Usage::

    python benchmarks/bench_feeds.py --feed /work/data/feeds-national/events \\
        --cells /work/data/national/cells.parquet [--shards 4,8,16] [--window 2h] [--json OUT]

A national feed is written once with :func:`cells.feeds.world.feed_from_world` (the feed's own
``_feed.json`` records its size). Each run counts the devices present in the feed's time
buckets (``geoalert presence build``'s code: :func:`cells.feeds.aggregate.shard_counts` and
:func:`~cells.feeds.aggregate.present_devices`) on

- a ``LocalCluster`` of 1 worker process (1 thread),
- a ``LocalCluster`` of 2 worker processes (1 thread each),
- a scheduler and 2 worker processes started here from the ``dask`` command line, on
  loopback, reached by address as an existing cluster would be (``--scheduler``),

over the first 4, 8 and 16 of the feed's device shards (a quarter, half and all of the
devices, so of the events). Times are wall seconds of the aggregation alone (cluster
started, cells read), the fastest of ``--repeat`` runs; CPU seconds are summed over the worker
processes. Every run must give the same counts as the first over the same shards.

Side by side, PostgreSQL (a throwaway server, :mod:`geoalert.testing.postgis`) counts the
first ``--postgres-shards`` shards with one query (``DISTINCT ON`` the last event of each
device per bucket, then ``GROUP BY``) over the same events, loaded beforehand (load time
reported apart) with cells as the same integer codes; its counts must equal Dask's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import dask
import pandas as pd
import psycopg
import pyarrow.parquet as pq
from distributed import Client

from cells.feeds.aggregate import (
    Windows,
    local_cluster,
    present_devices,
    read_cells,
    shard_counts,
)
from cells.feeds.layout import SCHEMA, Feed
from geoalert.testing.postgis import running_postgis

POSTGRES_SQL = """
SELECT bucket, cell, home_mcc, count(*) AS devices FROM (
    SELECT DISTINCT ON (w.bucket, e.device_id) w.bucket, e.cell, e.home_mcc
    FROM events e JOIN windows w ON e.t >= w.lo AND e.t < w.hi
    ORDER BY w.bucket, e.device_id, e.t DESC, e.cell DESC
) AS last_seen
GROUP BY bucket, cell, home_mcc ORDER BY bucket, cell, home_mcc
"""


@contextmanager
def command_line_cluster(workers: int):
    """``python -m distributed.cli.dask_scheduler`` and ``dask_worker`` processes on
    loopback; the client connects by address."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "scheduler.json"
        common = ["--no-dashboard", "--host", "127.0.0.1"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
                 "--scheduler-file", str(file), *common],
                **quiet,
            )
        ]  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            address = json.loads(file.read_text())["address"]
            processes += [
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address,
                     "--nthreads", "1", "--no-nanny", *common],
                    **quiet,
                )
                for _ in range(workers)
            ]  # fmt: skip
            with Client(address, timeout="60s") as client:
                client.wait_for_workers(workers, timeout=120)
                yield client
                client.shutdown()
        finally:
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


CLUSTERS = {
    "LocalCluster, 1 worker": lambda: local_cluster(1),
    "LocalCluster, 2 workers": lambda: local_cluster(2),
    "scheduler + 2 worker processes (by address)": lambda: command_line_cluster(2),
}


def run(
    client: Client, feed: Feed, cell_ids, windows: Windows
) -> tuple[float, float, pd.DataFrame]:
    """Wall and workers' CPU seconds of one aggregation, and its counts."""
    before = client.run(time.process_time)
    wall = time.perf_counter()
    counts = present_devices(shard_counts(feed, cell_ids, windows))
    wall = time.perf_counter() - wall
    after = client.run(time.process_time)
    return wall, sum(after[w] - before[w] for w in after), counts


def postgres(feed: Feed, shards: int, cell_ids, windows: Windows) -> dict:
    """Load the events the Dask runs read from the first ``shards`` shards into PostgreSQL
    and count them there; returns the timings, the events loaded and the counts."""
    files = [f for s in range(shards) for f in feed.shard_files(s, windows.hours)]
    index = pd.Index(cell_ids)
    lo, hi = windows.bounds_ms
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_postgis(tmp) as url,
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "CREATE UNLOGGED TABLE events (device_id bigint, cell integer, t bigint, home_mcc smallint)"
        )
        cur.execute("CREATE TABLE windows (bucket smallint, lo bigint, hi bigint)")
        for bucket, (a, b) in enumerate(zip(lo, hi, strict=True)):
            cur.execute("INSERT INTO windows VALUES (%s, %s, %s)", (bucket, int(a), int(b)))
        load, rows = time.perf_counter(), 0
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(
                1_000_000, columns=[f.name for f in SCHEMA]
            ):
                frame = pd.DataFrame(
                    {
                        "device_id": batch["device_id"].to_numpy(),
                        "cell": index.get_indexer(
                            batch["cell_id"].cast("string").to_numpy(zero_copy_only=False)
                        ),
                        "t": batch["time"].cast("int64").to_numpy(),
                        "home_mcc": batch["home_mcc"].to_numpy(),
                    }
                )
                with cur.copy("COPY events FROM STDIN (FORMAT csv)") as copy:
                    copy.write(frame.to_csv(index=False, header=False))
                rows += len(frame)
        cur.execute("ANALYZE events")
        load = time.perf_counter() - load
        query = time.perf_counter()
        cur.execute(POSTGRES_SQL)
        counts = pd.DataFrame(cur.fetchall(), columns=["bucket", "cell", "home_mcc", "devices"])
        query = time.perf_counter() - query
    return {"load_s": load, "query_s": query, "events": rows, "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feed", type=Path, required=True)
    parser.add_argument("--cells", type=Path, required=True)
    parser.add_argument("--shards", default="4,8,16", help="numbers of shards to aggregate")
    parser.add_argument("--window", default="2h")
    parser.add_argument("--clusters", default=",".join(str(i) for i in range(len(CLUSTERS))))
    parser.add_argument("--postgres-shards", type=int, default=1, help="0: no PostgreSQL run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is kept")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    feed = Feed.open(args.feed)
    cell_ids = read_cells(args.cells)["cell_id"].to_numpy(object)
    windows = Windows(feed.bucket_times, feed.bucket_length, pd.Timedelta(args.window))
    print(
        f"feed {args.feed}: {feed.info['events']:,} events of {feed.info['device_stays']:,} "
        f"device-stays, {feed.shards} shards; {len(cell_ids):,} cells; window {args.window}, "
        f"{len(windows.hours)} hour partitions read; load average {os.getloadavg()}"
    )
    results, reference = [], {}
    names = list(CLUSTERS)
    for name in (names[int(i)] for i in args.clusters.split(",")):
        started = time.perf_counter()
        with CLUSTERS[name]() as client:
            startup = time.perf_counter() - started
            for n in (int(s) for s in args.shards.split(",")):
                part = dataclasses.replace(
                    feed, files={key: f for key, f in feed.files.items() if key[1] < n}
                )
                read = sum(
                    pq.ParquetFile(f).metadata.num_rows
                    for s in range(n)
                    for f in part.shard_files(s, windows.hours)
                )
                day = sum(
                    pq.ParquetFile(f).metadata.num_rows for fs in part.files.values() for f in fs
                )
                load = os.getloadavg()[0]
                runs = [run(client, part, cell_ids, windows) for _ in range(args.repeat)]
                wall, cpu, counts = min(runs, key=lambda r: r[0])
                if n in reference:
                    pd.testing.assert_frame_equal(counts, reference[n])
                reference.setdefault(n, counts)
                row = {
                    "cluster": name,
                    "shards": n,
                    "events_read": read,
                    "events_of_the_day": day,
                    "devices_present": int(counts["devices"].sum()),
                    "wall_s": round(wall, 2),
                    "wall_s_runs": [round(r[0], 2) for r in runs],
                    "workers_cpu_s": round(cpu, 2),
                    "events_read_per_s": round(read / wall),
                    "cluster_start_s": round(startup, 1),
                    "load_before": round(load, 1),
                }
                results.append(row)
                print(
                    f"{name:45s} {n:>2} shards: {read:>12,} events read ({day:,} of the day), "
                    f"{wall:7.1f} s wall, {cpu:7.1f} s CPU, {read / wall:>11,.0f} events/s "
                    f"(start {startup:.1f} s, load {load:.1f})"
                )
    if args.postgres_shards:
        n = args.postgres_shards
        pg = postgres(feed, n, cell_ids, windows)
        if n not in reference:
            part = dataclasses.replace(
                feed, files={key: f for key, f in feed.files.items() if key[1] < n}
            )
            with dask.config.set(scheduler="threads"):
                reference[n] = present_devices(shard_counts(part, cell_ids, windows))
        pd.testing.assert_frame_equal(
            pg["counts"].astype(reference[n].dtypes.to_dict()), reference[n]
        )
        results.append(
            {
                "cluster": "PostgreSQL (one query)",
                "shards": n,
                "events_read": pg["events"],
                "wall_s": round(pg["query_s"], 2),
                "load_s": round(pg["load_s"], 1),
                "events_read_per_s": round(pg["events"] / pg["query_s"]),
                "same_counts_as_dask": True,
            }
        )
        print(
            f"{'PostgreSQL (one query)':45s} {n:>2} shards: {pg['events']:>12,} events loaded in "
            f"{pg['load_s']:.1f} s, query {pg['query_s']:.1f} s, "
            f"{pg['events'] / pg['query_s']:,.0f} events/s; the same counts as Dask"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
