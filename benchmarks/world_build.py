"""Time and memory of ``geoalert demo-data`` at each scale, as the CLI runs it.

Each build runs in a fresh process under ``/usr/bin/time -v`` (wall time, user + system CPU
time, peak resident memory); the manifest gives the time of each step and the row counts. The budgets: the sample
world in under 30 s, the national world in under 10 minutes and 8 GB on 2 cores.

Usage::

    python benchmarks/world_build.py --out /tmp/worlds [--scale sample national] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

from machine import machine

BUDGET = {"sample": (30.0, 8.0), "national": (600.0, 8.0)}
"""Seconds and GB of peak memory per scale."""


def build(scale: str, out: Path, seed: int) -> dict:
    """Build one world under ``/usr/bin/time -v``; return wall seconds, peak GB and manifest."""
    command = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-c",
        "from geoalert.cli import app; app()",
        "demo-data",
        "--scale",
        scale,
        "--out",
        str(out),
        "--seed",
        str(seed),
    ]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"{scale} build failed:\n{run.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", run.stderr)
    hours, minutes, secs = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    cpu = sum(
        float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", run.stderr).group(1))
        for kind in ("User", "System")
    )
    return {
        "seconds": hours * 3600 + minutes * 60 + secs,
        "cpu_seconds": cpu,
        "peak_gb": rss_kb / 1024**2,
        "manifest": json.loads((out / "manifest.json").read_text()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Parent folder of the worlds.")
    parser.add_argument("--scale", nargs="+", default=["sample", "national"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{datetime.date.today()}, {machine()}")
    print("| scale | wall s | CPU s | peak GB | budget | steps (s) | rows |")
    print("|---|---|---|---|---|---|---|")
    for scale in args.scale:
        result = build(scale, args.out / scale, args.seed)
        manifest = result["manifest"]
        seconds, gb = BUDGET[scale]
        ok = result["seconds"] < seconds and result["peak_gb"] < gb
        steps = ", ".join(f"{k} {v:.1f}" for k, v in manifest["build_steps"].items())
        rows = ", ".join(
            f"{k.removesuffix('.parquet')} {v:,}" for k, v in manifest["counts"].items()
        )
        print(
            f"| {scale} | {result['seconds']:.1f} | {result['cpu_seconds']:.1f} | "
            f"{result['peak_gb']:.2f} | "
            f"{'within' if ok else 'OVER'} {seconds:.0f} s / {gb:.0f} GB | {steps} | {rows} |"
        )


if __name__ == "__main__":
    main()
