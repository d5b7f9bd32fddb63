"""Addresses and contacts of real zones: the address index against PostGIS, same data, same run.

PostGIS gets the addresses by ``COPY`` (``addresses(address_id, municipality, geom)``), a GiST
index, ``CLUSTER`` on it and ``VACUUM ANALYZE``, and the registered contacts as
``contacts(contact_id, language, sms, voice, email)`` (whether each channel reaches the person)
and ``registrations(contact_id, address_id)`` indexed by address. The session runs with
``plan_cache_mode = force_custom_plan`` (PostGIS's best plan for prepared statements), and
PostgreSQL's parallel workers for provinces only (for a municipality, starting them costs more
than they save: 10.7 ms at the median without them, 33.7 ms with two, in a trial; for provinces
two workers brought the median from about 520 ms to 400 ms). Each zone
(every municipality, then every province of the world's areas) is sent as WKB (EPSG:4326) to
three prepared queries, timed from the client until the rows are fetched:

- ``count``: ``SELECT count(*) FROM addresses WHERE ST_Covers(zone, geom)``;
- ``by municipality``: the same ``GROUP BY municipality``;
- ``contacts``: the distinct people registered at those addresses, counted per language and
  channel (the figures of the ``contacts`` part).

The index gets the same WKB and is timed for the whole call: reading the WKB, selecting, and
counting (``AddressIndex.select(...).count``, ``.municipality_counts()``, and
``ContactIndex.at_addresses`` with ``contacts_to_dict``). A first pass checks that every
figure agrees with PostGIS zone by zone, or the run fails. Then, each round and for each
query, both sides go through all zones in one shuffled order, each in its own block (the
side going first alternates between rounds), so that each works with its caches warm, as a
service answering a stream of requests does. Besides wall-clock times, CPU time per zone is
summed: the index's thread, and for PostGIS its backend process (``/proc``, in clock ticks)
plus the client's call; on a shared machine it is far less disturbed than wall-clock time.

Usage::

    python benchmarks/bench_addresses.py --data /work/data/national [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import shapely
from machine import machine
from rich.console import Console
from rich.progress import track
from rich.table import Table

from geoalert.testing.postgis import running_postgis
from geodata.address_index import AddressIndex
from geodata.contact_index import ContactIndex, contacts_to_dict
from geodata.stores import open_store

console = Console(width=150)

COUNT_SQL = "SELECT count(*) FROM addresses WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), geom)"
GROUP_SQL = (
    "SELECT municipality, count(*) FROM addresses "
    "WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), geom) GROUP BY municipality"
)
CONTACTS_SQL = """
WITH people AS (
    SELECT DISTINCT r.contact_id FROM addresses a JOIN registrations r USING (address_id)
    WHERE ST_Covers(ST_GeomFromWKB(%s, 4326), a.geom)
)
SELECT c.language, count(*), count(*) FILTER (WHERE c.sms), count(*) FILTER (WHERE c.voice),
       count(*) FILTER (WHERE c.email)
FROM people JOIN contacts c USING (contact_id) GROUP BY c.language
"""
QUERIES = {"count": COUNT_SQL, "by municipality": GROUP_SQL, "contacts": CONTACTS_SQL}


def load_postgis(conn: psycopg.Connection, addresses: pd.DataFrame, contacts: pd.DataFrame) -> None:
    """Copy addresses, contacts and their registrations into PostGIS, indexed."""
    steps = [
        "CREATE UNLOGGED TABLE staging (address_id bigint, municipality text, "
        "lon float8, lat float8)",
        ("staging", addresses[["address_id", "municipality", "lon", "lat"]]),
        "CREATE TABLE addresses AS SELECT address_id, municipality, "
        "ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geometry(Point, 4326) AS geom FROM staging",
        "DROP TABLE staging",
        "CREATE INDEX addresses_geom ON addresses USING gist (geom)",
        "CLUSTER addresses USING addresses_geom",
        "CREATE UNIQUE INDEX ON addresses (address_id)",
        "VACUUM ANALYZE addresses",
    ]
    phone = contacts.phone.notna()
    people = pd.DataFrame(
        {
            "contact_id": contacts.contact_id,
            "language": contacts.language,
            "sms": contacts.sms & phone,
            "voice": contacts.voice & phone,
            "email": contacts.email.notna(),
        }
    )
    lengths = contacts.address_ids.map(len).to_numpy()
    registrations = pd.DataFrame(
        {
            "contact_id": np.repeat(contacts.contact_id.to_numpy(), lengths),
            "address_id": np.concatenate(contacts.address_ids.to_numpy()),
        }
    ).drop_duplicates()
    steps += [
        "CREATE TABLE contacts (contact_id bigint PRIMARY KEY, language text, "
        "sms boolean, voice boolean, email boolean)",
        ("contacts", people),
        "CREATE TABLE registrations (contact_id bigint, address_id bigint)",
        ("registrations", registrations),
        "CREATE INDEX ON registrations (address_id, contact_id)",
        "VACUUM ANALYZE contacts",
        "VACUUM ANALYZE registrations",
    ]
    for step in track(steps, description="PostGIS: COPY, indexes, CLUSTER, ANALYZE"):
        if isinstance(step, str):
            conn.execute(step)
            continue
        table, frame = step
        with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for start in range(0, len(frame), 500_000):
                buf = io.StringIO()
                frame.iloc[start : start + 500_000].to_csv(
                    buf, sep="\t", header=False, index=False, float_format="%.17g"
                )
                copy.write(buf.getvalue())


def postgis_figures(cur: psycopg.Cursor, query: str, wkb: bytes) -> object:
    """Run one of the :data:`QUERIES` for a zone and shape its answer like the index's."""
    cur.execute(QUERIES[query], (wkb,), prepare=True)
    rows = cur.fetchall()
    if query == "count":
        return rows[0][0]
    if query == "by municipality":
        return dict(rows)
    by_language = {language: n for language, n, *_ in rows}
    channels = np.sum([r[2:] for r in rows], axis=0) if rows else np.zeros(3, int)
    return {
        "count": sum(by_language.values()),
        "by_channel": dict(zip(("sms", "voice", "email"), map(int, channels), strict=True)),
        "by_language": by_language,
    }


def index_figures(index: AddressIndex, people: ContactIndex, query: str, wkb: bytes):
    """The indexes' answer to one of the :data:`QUERIES`, from the zone's WKB."""
    selection = index.select(shapely.from_wkb(wkb))
    if query == "count":
        return selection.count
    if query == "by municipality":
        return selection.municipality_counts()
    out = contacts_to_dict(people.at_addresses(selection), 1, 1, 0.055)
    del out["cost_eur"]
    return out


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backend process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="world (geoalert demo-data)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over all zones")
    args = parser.parse_args()
    load_start = os.getloadavg()

    with console.status("reading the world"):
        store = open_store(args.data)
        frame = store.read_addresses()
        addresses = pd.DataFrame(
            {
                "address_id": frame.address_id.to_numpy(),
                "municipality": frame.municipality.to_numpy(object),
                "lon": shapely.get_x(frame.geometry.values),
                "lat": shapely.get_y(frame.geometry.values),
            }
        )
        areas, contacts = store.read_areas(), store.read_contacts()
    t = time.perf_counter()
    index = AddressIndex(
        addresses.address_id.to_numpy(),
        addresses.lon.to_numpy(),
        addresses.lat.to_numpy(),
        addresses.municipality.to_numpy(object),
    )
    build = {"address index": time.perf_counter() - t}
    t = time.perf_counter()
    people = ContactIndex.from_frames(contacts, index)
    build["contact index"] = time.perf_counter() - t
    zones = {
        level: [shapely.to_wkb(g) for g in areas.geometry[areas.level == level]]
        for level in ("municipality", "province")
    }

    rng = np.random.default_rng(0)
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_postgis(tmp) as url,
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn,
    ):
        load_postgis(conn, addresses, contacts)
        conn.execute("SET plan_cache_mode = force_custom_plan")
        workers = conn.execute("SHOW max_parallel_workers_per_gather").fetchone()[0]
        version = conn.execute("SELECT postgis_full_version()").fetchone()[0].split('"')[1]
        cur = conn.cursor()
        backend = conn.info.backend_pid
        for level, wkbs in zones.items():
            parallel = workers if level == "province" else 0
            conn.execute(f"SET max_parallel_workers_per_gather = {parallel}")
            for name in QUERIES:
                for i, wkb in enumerate(track(wkbs, description=f"{level} {name}: check")):
                    expected = postgis_figures(cur, name, wkb)
                    if index_figures(index, people, name, wkb) != expected:
                        raise SystemExit(f"{level} zone {i}: {name} differs from PostGIS")
            times = {
                (side, name): np.empty((args.rounds, len(wkbs)))
                for side in ("pg", "ix")
                for name in QUERIES
            }
            cpu = dict.fromkeys(times, 0.0)
            for r in track(range(args.rounds), description=f"{level}: {args.rounds} rounds"):
                for name in QUERIES:
                    order = rng.permutation(len(wkbs))
                    for side in ("pg", "ix") if r % 2 == 0 else ("ix", "pg"):
                        for i in order:
                            c, server = time.thread_time(), server_cpu(backend)
                            t = time.perf_counter()
                            if side == "pg":
                                postgis_figures(cur, name, wkbs[i])
                            else:
                                index_figures(index, people, name, wkbs[i])
                            times[side, name][r, i] = time.perf_counter() - t
                            cpu[side, name] += time.thread_time() - c
                            if side == "pg":
                                cpu[side, name] += server_cpu(backend) - server
            for name in QUERIES:
                pg, ix = times["pg", name] * 1e3, times["ix", name] * 1e3
                speedup = np.median(pg, axis=0) / np.median(ix, axis=0)
                runs = args.rounds * len(wkbs)
                rows.append(
                    (
                        f"{len(wkbs)} {level}",
                        name,
                        f"{np.median(pg):.1f}",
                        f"{np.percentile(pg, 99):.1f}",
                        f"{np.median(ix):.3f}",
                        f"{np.percentile(ix, 99):.3f}",
                        f"{np.median(speedup):.0f}x",
                        f"{speedup.min():.0f}x",
                        f"{cpu['pg', name] / runs * 1e3:.1f} / {cpu['ix', name] / runs * 1e3:.3f}",
                        f"{cpu['pg', name] / cpu['ix', name]:.0f}x",
                    )
                )

    header = (
        "zones",
        "query",
        "PostGIS p50 ms",
        "p99 ms",
        "index p50 ms",
        "p99 ms",
        "speedup (median zone)",
        "lowest zone speedup",
        "mean CPU ms PostGIS / index",
        "CPU speedup",
    )
    table = Table(
        title=f"{len(index):,} addresses; index built in "
        + ", ".join(f"{k} {v:.1f} s" for k, v in build.items())
    )
    for column in header:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        console.print("| " + " | ".join(row) + " |")
    load_end = os.getloadavg()
    console.print(
        f"{machine()}; PostGIS {version}; {datetime.date.today().isoformat()}; load average "
        f"{load_start[0]:.1f} at start, {load_end[0]:.1f} at end; every figure of every zone "
        f"equal to PostGIS; {Counter(areas.level)}"
    )


if __name__ == "__main__":
    main()
