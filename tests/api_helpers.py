"""Helpers for the API tests: a private store over the sample world, keys, problem checks."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from geoalert.keys import create_key
from geoalert.zones import from_metric, to_metric
from geodata.stores import open_store

METRIC = "EPSG:3812"

#: Keys made for the tests: name -> (role, area).
KEYS = {
    "federal": ("federal", None),
    "admin": ("admin", None),
    "governor": ("governor", "20001"),  # Vlaams-Brabant
    "mayor": ("mayor", "21004"),  # Bruxelles
    "operator": ("operator", None),
    "groups": ("group-only", "21004"),
    "revoked": ("federal", None),
}


def serving_copy(world: Path, out: Path) -> Path:
    """A world directory sharing ``world``'s files but with a store (keys, audit) of its own."""
    out.mkdir(parents=True)
    for path in world.iterdir():
        if path.suffix in (".parquet", ".json"):
            (out / path.name).symlink_to(path)
    return out


def make_keys(world: Path) -> dict[str, str]:
    """Create :data:`KEYS` in the world's store (``revoked`` revoked); name -> secret."""
    secrets = {}
    with open_store(world) as store:
        for name, (role, area) in KEYS.items():
            secrets[name], _ = create_key(store, role, area, name)
        store.revoke_key("revoked")
    return secrets


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response, status: int) -> dict:
    """The RFC 9457 body of ``response``, checked to have ``status`` and every member."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/") and body["title"]
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    return body


def inner_circle(areas: gpd.GeoDataFrame, code: str, radius_m: float = 150.0) -> dict:
    """A circle zone well inside area ``code``: at the centre of its largest inscribed circle."""
    metric = to_metric(areas.set_index("code").geometry[code], METRIC)
    centre = shapely.get_point(shapely.maximum_inscribed_circle(metric), 0)
    assert metric.contains(centre.buffer(3 * radius_m))
    lon, lat = shapely.get_coordinates(from_metric(centre, METRIC))[0]
    return {"circle": {"lon": float(lon), "lat": float(lat), "radius_m": radius_m}}


def straddling_circle(areas: gpd.GeoDataFrame, a: str, b: str, radius_m: float = 400.0) -> dict:
    """A circle zone centred on the border of areas ``a`` and ``b``, reaching well into both."""
    geoms = areas.set_index("code").geometry
    ring = to_metric(geoms[a], METRIC).boundary.buffer(1.0)
    border = shapely.intersection(ring, to_metric(geoms[b], METRIC))
    assert border.area > 100, f"{a} and {b} share no border"
    centre = shapely.point_on_surface(border)
    lon, lat = shapely.get_coordinates(from_metric(centre, METRIC))[0]
    return {"circle": {"lon": float(lon), "lat": float(lat), "radius_m": radius_m}}
