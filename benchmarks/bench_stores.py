"""Stores: loading a world into PostGIS, reading it back, registering and importing contacts.

Same world, same run, both stores: the embedded store (GeoParquet + ``store.sqlite``, created
on first open from the world's contacts) and PostGIS (``geoalert load``: COPY and GiST indexes,
in a throwaway server). Both stores must read the same keys, or the run fails (the tests check
whole frames).

Usage::

    python benchmarks/bench_stores.py --data /work/data/national
    python benchmarks/bench_stores.py --synthetic 5500000 2000000   # addresses, contacts

``--synthetic A C`` writes the tiny world's layout (two municipalities) with A addresses and
C contacts, for work before a national world exists. The world directory is not modified:
its Parquet files are linked into a scratch directory that gets the store.
"""

from __future__ import annotations

import argparse
import datetime
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from geoalert.testing.postgis import running_postgis
from geoalert.testing.tiny_world import write_tiny_world
from geodata.stores import BaseStore, open_store
from geodata.stores.load import load_world

LAYERS = ["areas", "cells", "addresses", "presence", "contacts", "groups"]
console = Console()


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def scratch_world(source: Path, out: Path) -> Path:
    """Links to the world's layer files, so that the store is made outside the world."""
    for layer in [*LAYERS, "manifest"]:
        for path in source.glob(f"{layer}.*"):
            (out / path.name).symlink_to(path.resolve())
    return out


def free_phones(store: BaseStore, n: int) -> list[str]:
    """``n`` valid Belgian mobile numbers that nobody in the store has registered."""
    taken = set(store.read_contacts()["phone"].dropna())
    candidates = (f"+32475{i:06d}" for i in range(1_000_000))
    return [p for p in candidates if p not in taken][:n]


def import_csv(store: BaseStore, phones: list[str], seed: int) -> str:
    """Good registration rows, one per phone, at known addresses."""
    rng = np.random.default_rng(seed)
    ids = store.read_addresses()["address_id"].to_numpy()
    n = len(phones)
    rows = pd.DataFrame(
        {
            "phone": phones,
            "sms": "yes",
            "language": rng.choice(["nl", "fr", "de", "en"], n),
            "address_1": rng.choice(ids, n),
            "label_1": "home",
        }
    )
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False)
    return buffer.getvalue()


def bench_writes(store: BaseStore, label: str, n_import: int, n_register: int, seed: int) -> dict:
    """CSV import throughput and single-registration latency."""
    out = {}
    phones = free_phones(store, n_import + n_register)
    csv = import_csv(store, phones[:n_import], seed)
    report, seconds = timed(store.import_contacts, io.StringIO(csv), "good-rows")
    if report.problems:
        raise SystemExit(f"{label}: import refused rows: {report.problems[:3]}")
    out["import_rows_per_s"] = n_import / seconds
    ids = store.read_addresses()["address_id"].to_numpy()[:n_register]
    latencies = []
    for phone, address_id in zip(phones[n_import:], ids, strict=True):
        _, s = timed(
            store.register_contact,
            phone=phone,
            language="nl",
            addresses=[("home", int(address_id))],
        )
        latencies.append(s)
    out["register_ms_median"] = 1000 * statistics.median(latencies)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="world directory (geoalert demo-data --out)")
    source.add_argument("--synthetic", type=int, nargs=2, metavar=("ADDRESSES", "CONTACTS"))
    parser.add_argument(
        "--import-rows", type=int, default=20_000, help="rows of the timed CSV import"
    )
    parser.add_argument("--register", type=int, default=200, help="single registrations timed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp:
        tmp = Path(tmp)
        if args.synthetic:
            n_addr, n_contacts = args.synthetic
            console.print(
                f"writing a synthetic world: {n_addr:,} addresses, {n_contacts:,} contacts"
            )
            world = write_tiny_world(tmp / "source", n_addresses=n_addr, n_contacts=n_contacts)
        else:
            world = args.data
        work = tmp / "world"
        work.mkdir()
        scratch_world(world, work)

        embedded, first_open = timed(open_store, work)
        results = {"embedded": {"first_open": first_open}, "postgis": {}}
        with running_postgis(tmp / "pg") as url:
            counts, results["postgis"]["load"] = timed(load_world, work, url, progress=True)
            counts.pop("seconds")
            postgis = open_store(db=url)
            for layer in LAYERS:
                read = {}
                for name, store in (("embedded", embedded), ("postgis", postgis)):
                    read[name], results[name][f"read_{layer}"] = timed(
                        getattr(store, f"read_{layer}")
                    )
                key = read["embedded"].columns[0]
                if not read["embedded"][key].equals(read["postgis"][key]):
                    raise SystemExit(f"{layer}: the stores disagree")
                del read
            for name, store in (("embedded", embedded), ("postgis", postgis)):
                results[name].update(
                    bench_writes(store, name, args.import_rows, args.register, seed=1)
                )
            postgis.close()
        embedded.close()

    table = Table(
        "measure", "embedded", "PostGIS", title=f"stores, {counts['addresses']:,} addresses"
    )
    table.add_row(
        "first open / load (s)",
        f"{results['embedded']['first_open']:.1f}",
        f"{results['postgis']['load']:.1f}",
    )
    for layer in LAYERS:
        key = f"read_{layer}"
        table.add_row(
            f"{key} (s)", f"{results['embedded'][key]:.2f}", f"{results['postgis'][key]:.2f}"
        )
    for key, fmt in (("import_rows_per_s", "{:,.0f}"), ("register_ms_median", "{:.1f}")):
        table.add_row(
            key, fmt.format(results["embedded"][key]), fmt.format(results["postgis"][key])
        )
    console.print(table)
    console.print("rows loaded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    console.print(
        f"{machine()}; {datetime.date.today().isoformat()}; same keys read from both stores"
    )


if __name__ == "__main__":
    main()
