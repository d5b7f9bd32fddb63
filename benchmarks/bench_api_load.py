"""The resolve API under load: the real server (uvicorn), a load generator, loopback only.

``geoalert serve --workers N`` runs over a scratch copy of a world (its Parquet files linked,
a store of its own for the benchmark's key and audit), with the rate limit lifted. ``wrk``
(Debian package ``wrk``; one thread, a closed loop of ``--connections`` connections) sends
``POST /v1/resolve`` for every municipality in turn, ``{"zone": {"area": CODE}}`` with every
part, after a warm-up pass; its Lua script reports the exact latency percentiles. A single
connection run gives the latency of one request at a time. Every request is bounded by
``--duration``, and the server is stopped at the end.

Usage::

    python benchmarks/bench_api_load.py --data /tmp/worlds/national
    python benchmarks/bench_api_load.py --data /tmp/worlds/sample --duration 10 --include cells

Target (issue 7): >= 500 requests/s with p99 <= 50 ms on 2 cores, national world.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from bench_stores import scratch_world
from machine import machine

from geoalert.keys import create_key
from geoalert.testing.ports import free_port
from geodata.stores import open_store

console = Console()

LUA = """
local bodies = {BODIES}
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/resolve", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer KEY",
  }, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"non_2xx\\": %d, \\"errors\\": %d, "
    .. "\\"p50_ms\\": %.3f, \\"p90_ms\\": %.3f, \\"p99_ms\\": %.3f, \\"max_ms\\": %.3f, "
    .. "\\"mean_ms\\": %.3f}\\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


def wrk(url: str, script: Path, connections: int, duration_s: int) -> dict:
    """One wrk run (one thread): the figures its Lua ``done`` reports."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration_s}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def warm_up(url: str, key: str, bodies: list[str], connections: int, passes: int = 6) -> float:
    """Seconds to send every body ``passes`` times over ``connections`` connections.

    Requests go to the workers the kernel picks, so after 6 passes each worker has very
    likely resolved every municipality at least once (each misses one with odds 1/64).
    """
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:

        def send(body: str) -> None:
            client.post("/v1/resolve", content=body).raise_for_status()

        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(send, bodies * passes))
    return time.monotonic() - started


def wait_for_workers(server: subprocess.Popen, log: Path, workers: int) -> float:
    """Seconds until every worker has finished opening the world (uvicorn logs each)."""
    started = time.monotonic()
    while time.monotonic() - started < 1_800:
        if server.poll() is not None:
            sys.exit(f"the server stopped:\n{log.read_text()[-3000:]}")
        if log.read_text().count("Application startup complete") >= workers:
            return time.monotonic() - started
        time.sleep(1)
    sys.exit(f"the workers did not start in 30 minutes:\n{log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="world directory")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--duration", type=int, default=20, help="seconds of each measured run")
    parser.add_argument("--include", nargs="+", help="parts to resolve (all by default)")
    parser.add_argument(
        "--no-cache", action="store_true", help="serve without the resolutions cache"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")

    areas = pd.read_parquet(args.data / "areas.parquet", columns=["code", "level"])
    codes = sorted(areas.loc[areas["level"] == "municipality", "code"])
    extra = {"include": args.include} if args.include else {}
    bodies = [json.dumps({"zone": {"area": code}, **extra}) for code in codes]

    with tempfile.TemporaryDirectory(prefix="bench_api_") as tmp:
        world = scratch_world(args.data, Path(tmp))
        with open_store(world) as store:
            key, _ = create_key(store, "federal", None, "bench-load")
        lua_bodies = "{" + ", ".join(json.dumps(b) for b in bodies) + "}"  # JSON strings are Lua's
        script = Path(tmp) / "resolve.lua"
        script.write_text(LUA.replace("{BODIES}", lua_bodies).replace("KEY", key))

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "GEOALERT_API_RATE_PER_S": "1e9",
            "GEOALERT_API_RATE_BURST": "1000000000",
        }
        if args.no_cache:
            env["GEOALERT_API_CACHE_BYTES"] = "0"
        command = [sys.executable, "-c", "from geoalert.cli import app; app()", "serve"]
        command += ["--data", str(world), "--port", str(port), "--workers", str(args.workers)]
        log_path = Path(tmp) / "server.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [*command, "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            with console.status(f"starting {args.workers} workers over {args.data}"):
                load_s = wait_for_workers(server, log_path, args.workers)
            with console.status("warm-up: every municipality several times"):
                warm_s = warm_up(url, key, bodies, args.connections)
            with console.status("one connection"):
                single = wrk(url, script, 1, args.duration)
            with console.status(f"{args.connections} connections"):
                loaded = wrk(url, script, args.connections, args.duration)
        finally:
            server.terminate()
            server.wait(timeout=120)

    table = Table("run", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "non-2xx")
    runs = [
        ("1 connection", single),
        (f"{args.connections} connections", loaded),
    ]
    for name, r in runs:
        table.add_row(
            name,
            str(r["requests"]),
            f"{r['rps']:.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p90_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            str(r["non_2xx"] + r["errors"]),
        )
    console.print(table)
    manifest = json.loads((args.data / "manifest.json").read_text())
    console.print(
        f"{manifest.get('scale')} world, {len(codes)} municipalities, parts "
        f"{args.include or 'all'}, {args.workers} workers, cache "
        f"{'off' if args.no_cache else 'on'}, start-up {load_s:.0f} s, warm-up {warm_s:.0f} s; "
        f"{machine()}; "
        f"load average {os.getloadavg()[0]:.1f}; {datetime.date.today()}"
    )


if __name__ == "__main__":
    main()
