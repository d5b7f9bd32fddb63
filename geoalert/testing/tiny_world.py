"""A tiny world (two municipalities, a few hundred addresses) written in the world schema.

For tests that need a world directory but not the sample world's realism: store round trips,
registration and import. Deterministic for a given seed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, box

# Two side-by-side municipalities sharing the meridian 4.40 E.
MUNICIPALITIES = {"21004": (4.30, 50.80, 4.40, 50.86), "21001": (4.40, 50.80, 4.50, 50.86)}
BUCKETS = pd.DatetimeIndex(
    ["2025-03-12 03:00", "2025-03-12 08:00", "2025-03-12 14:00", "2025-03-12 20:00"],
    tz="Europe/Brussels",
)


def write_tiny_world(
    out: str | Path, seed: int = 0, n_addresses: int = 400, n_contacts: int = 40
) -> Path:
    """Write ``areas``, ``cells``, ``addresses``, ``presence``, ``contacts`` and ``groups``
    Parquet files to ``out`` and return it.

    Addresses include points exactly on the shared municipal boundary; contact phones are valid
    Belgian mobile numbers ``+32470120000`` onwards (contact id 2 has ``+32470120001``; every
    fifth contact has none) and e-mails ``person<i>@example.org`` (every third contact). Also
    usable at national size (``n_addresses=5_500_000, n_contacts=2_000_000``) for benchmarks.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    squares = {code: box(*bounds) for code, bounds in MUNICIPALITIES.items()}
    region = shapely.union_all(list(squares.values()))
    areas = gpd.GeoDataFrame(
        {
            "code": ["04000", *squares],
            "level": ["region", "municipality", "municipality"],
            "name_nl": ["Brussels Hoofdstedelijk Gewest", "Brussel", "Anderlecht"],
            "name_fr": ["Région de Bruxelles-Capitale", "Bruxelles", "Anderlecht"],
            "name_de": [None, None, None],
            "name": ["Région de Bruxelles-Capitale", "Bruxelles", "Anderlecht"],
            "parent_code": [None, "04000", "04000"],
            "province_code": [None, None, None],
            "region_code": ["04000", "04000", "04000"],
        },
        geometry=[MultiPolygon([region]), *(MultiPolygon([s]) for s in squares.values())],
        crs=4326,
    )

    lon = rng.uniform(4.30, 4.50, n_addresses)
    lat = rng.uniform(50.80, 50.86, n_addresses)
    lon[:10] = 4.40  # on the shared boundary
    addresses = gpd.GeoDataFrame(
        {
            "address_id": np.arange(1_000, 1_000 + n_addresses, dtype=np.int64),
            "municipality": np.where(lon < 4.40, "21004", "21001"),
        },
        geometry=shapely.points(lon, lat),
        crs=4326,
    )

    sites = [(4.33, 50.82), (4.37, 50.84), (4.45, 50.83)]
    rows = []
    for s, (x, y) in enumerate(sites):
        for k, (operator, name) in enumerate([("01", "Proximus"), ("10", "Orange Belgium")]):
            cover = shapely.Point(x, y).buffer(0.02 + 0.01 * k, quad_segs=4)
            if s == 2 and k == 1:
                cover = MultiPolygon([cover, shapely.Point(x + 0.04, y).buffer(0.005, quad_segs=4)])
            rows.append(
                {
                    "cell_id": f"206-{operator}-{100 + s}-{k + 1}",
                    "mcc": 206,
                    "operator": operator,
                    "operator_name": name,
                    "site_id": f"{operator}-{s}",
                    "radio": "4G",
                    "band": "B20 800",
                    "freq_mhz": 800,
                    "azimuth": np.nan if k == 0 else 120.0 * s,
                    "site_lon": x,
                    "site_lat": y,
                    "range_m": 2_000.0 + 700 * k,
                    "geometry": cover,
                }
            )
    cells = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).astype(
        {"mcc": np.int16, "freq_mhz": np.int16}
    )

    presence_rows = [
        {
            "cell_id": c["cell_id"],
            "operator": c["operator"],
            "time": t,
            "home_mcc": mcc,
            "devices": devices,
        }
        for c in rows
        for t in BUCKETS
        for mcc, devices in [(206, int(rng.integers(0, 500))), (208, int(rng.integers(1, 20)))]
    ]
    presence = pd.DataFrame(presence_rows).astype({"home_mcc": np.int16, "devices": np.int32})

    i = np.arange(n_contacts)
    contacts = pd.DataFrame(
        {
            "contact_id": i + 1,
            "phone": pd.Series([f"+32470{k:06d}" for k in 120_000 + i], dtype=object).where(
                i % 5 != 0, None
            ),
            "sms": i % 5 != 0,
            "voice": i % 7 == 1,
            "email": pd.Series([f"person{k}@example.org" for k in i], dtype=object).where(
                i % 3 == 0, None
            ),
            "language": rng.choice(["nl", "fr", "de", "en"], n_contacts),
        }
    )
    # One to three distinct addresses each: a random first one, the others a fixed stride away.
    counts = rng.integers(1, 4, n_contacts)
    first = rng.integers(0, n_addresses, n_contacts)
    stride = n_addresses // 3 + 1
    picks = (first[:, None] + stride * np.arange(3)) % n_addresses + 1_000
    labels = np.array(["home", "work", "school"], dtype=object)
    contacts["address_ids"] = [picks[k, :n] for k, n in enumerate(counts)]
    contacts["address_labels"] = [labels[:n] for n in counts]
    groups = pd.DataFrame(
        {
            "group_id": ["nh-21004", "resp-04000"],
            "name": ["Neighbourhood watch Bruxelles", "Responders Brussels"],
            "kind": ["neighbourhood", "responders"],
            "area_code": ["21004", "04000"],
            "contact_ids": [np.array([2, 3, 5], dtype=np.int64), np.array([1, 4], dtype=np.int64)],
        }
    )

    areas.to_parquet(out / "areas.parquet")
    cells.to_parquet(out / "cells.parquet")
    addresses.to_parquet(out / "addresses.parquet")
    presence.to_parquet(out / "presence.parquet")
    contacts.to_parquet(out / "contacts.parquet")
    groups.to_parquet(out / "groups.parquet")
    return out
