"""Cost of one rate-limit take: in memory, and through the shared SQLite file alone and with
other processes taking tokens of the same key at the same time.

Usage::

    python benchmarks/bench_ratelimit.py [--takes 20000] [--processes 1 2 4]

Each process takes tokens of one key in a closed loop (rate and burst high enough that every
take is granted, as on a server whose keys stay within their rate); reports microseconds per
take (wall, median over the processes) and the takes per second of all processes together.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from api.ratelimit import SharedTokenBuckets, TokenBuckets

HIGH = 1e9  # rate and burst: every take granted


def _loop(buckets, takes: int) -> float:
    started = time.perf_counter()
    for _ in range(takes):
        buckets.take("key")
    return time.perf_counter() - started


def _shared(path: Path, takes: int, start, out) -> None:
    buckets = SharedTokenBuckets(path, HIGH, int(HIGH))
    start.wait()
    out.put(_loop(buckets, takes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=20_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    seconds = _loop(TokenBuckets(HIGH, int(HIGH)), args.takes)
    print(f"in memory, 1 process: {seconds / args.takes * 1e6:.1f} us per take")
    context = multiprocessing.get_context("spawn")
    for n in args.processes:
        with tempfile.TemporaryDirectory() as folder:
            start, out = context.Barrier(n), context.Queue()
            path = Path(folder) / "rate-limits.sqlite"
            workers = [
                context.Process(target=_shared, args=(path, args.takes, start, out))
                for _ in range(n)
            ]
            for worker in workers:
                worker.start()
            times = [out.get() for _ in workers]
            for worker in workers:
                worker.join()
        per_take = statistics.median(times) / args.takes * 1e6
        print(
            f"shared SQLite, {n} process(es) on one key: {per_take:.1f} us per take, "
            f"{n * args.takes / max(times):,.0f} takes/s in all"
        )


if __name__ == "__main__":
    main()
