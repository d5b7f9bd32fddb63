"""The crisis cell's map page at ``/``, its assets and the layers it draws.

Everything the page loads comes from this server (no CDN, no tile server): the page and its
scripts from ``api/static/map`` (Leaflet vendored under ``vendor/``), the basemap from the
world's own areas and cell sites. The layer routes under ``/map`` serve the page only and
are not part of the v1 contract; they take the same Bearer keys as ``/v1``.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse

from api.deps import Areas, Key, Territories, World
from api.models import ResolveRequest
from api.responses import JSON, GeoJSON
from api.routers.areas import _properties
from geoalert.jurisdiction import Action, NotPermitted, require
from geoalert.messages.cap import parse_cap
from geoalert.zones import to_geojson

ASSETS = files("api") / "static" / "map"
ASSETS_URL = "/static/map"
DISPLAY_GRID_DEG = 1e-6
"""Coordinates of the drawn layers are rounded to this grid (about 0.1 m)."""
DISPLAY_TOLERANCE_DEG = 5e-5
"""Coverage outlines are simplified by this much for drawing (about 5 m)."""

HEADERS = {
    # Scripts, styles and data from this origin only; the key never leaves it.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Serve the map page at ``/``, its assets and its layers."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS)), name="map-assets")
    app.include_router(router)


@router.get("/")
def page() -> FileResponse:
    return FileResponse(str(ASSETS / "index.html"), headers=HEADERS)


@router.get("/map/config", response_class=JSON)
def config(key: Key, world: World) -> JSON:
    """What the page needs to start: operators, presence buckets, extent, the key's role and
    why it may not alert zones (None when it may)."""
    require(key, Action.REFERENCE)
    population = world.indexes.get("population")
    times = [] if population is None else [t.isoformat() for t in population.times]
    try:
        require(key, Action.RESOLVE)
        refused = None
    except NotPermitted as error:
        refused = str(error)
    return JSON(
        {
            "operators": world.operators,
            "buckets": times,
            "extent": world.extent,
            "key": {
                "name": key.name,
                "role": key.role,
                "area": key.area_code,
                "alert_refused": refused,
            },
        }
    )


@router.get("/map/areas", response_class=GeoJSON)
def areas_layer(request: Request, key: Key, areas: Areas) -> GeoJSON:
    """Every area with its outline, as one FeatureCollection (built once per process)."""
    require(key, Action.REFERENCE)
    state = request.app.state
    if getattr(state, "map_areas", None) is None:
        outlines = shapely.set_precision(areas.geometry.values, DISPLAY_GRID_DEG)
        state.map_areas = _collection(outlines, _properties(areas))
    return GeoJSON(state.map_areas)


@router.get("/map/sites", response_class=GeoJSON)
def sites_layer(request: Request, key: Key, world: World) -> GeoJSON:
    """Antenna sites (masts) with the operators and cell count on each."""
    require(key, Action.REFERENCE)
    state = request.app.state
    if getattr(state, "map_sites", None) is None:
        index = world.indexes["cells"].index
        cells = pd.DataFrame(
            {
                "site_id": index.columns["site_id"],
                "operator": index.operator,
                "lon": index.columns["site_lon"],
                "lat": index.columns["site_lat"],
            }
        )
        sites = cells.groupby("site_id", sort=True).agg(
            lon=("lon", "first"),
            lat=("lat", "first"),
            operators=("operator", lambda ops: sorted(set(ops))),
            cells=("operator", "size"),
        )
        points = shapely.points(sites[["lon", "lat"]].to_numpy().round(6))
        properties = [
            {"site_id": site, "operators": ops, "cells": int(n)}
            for site, ops, n in zip(sites.index, sites["operators"], sites["cells"], strict=True)
        ]
        state.map_sites = _collection(points, properties)
    return GeoJSON(state.map_sites)


@router.post("/map/coverage", response_class=GeoJSON)
def coverage_layer(
    body: ResolveRequest, key: Key, world: World, territories: Territories
) -> GeoJSON:
    """Per operator, the coverage of the cells a zone selects and its overshoot (the part
    outside the zone): what ``/v1/resolve`` selects for the same body, drawn."""
    require(key, Action.RESOLVE)
    parsed = world.zone(body.zone)
    territories.check_zone(key, parsed.geometry)
    resolution = world.resolve(
        parsed, include=["cells"], operators=body.operators, policy=body.policy
    )
    cells = resolution["cells"]
    geometry = world.indexes["cells"].index.geometry
    selected = cells.by_operator()
    covered = [shapely.union_all(geometry[positions]) for positions in selected.values()]
    covered = shapely.simplify(np.asarray(covered, dtype=object), DISPLAY_TOLERANCE_DEG)
    overshoot = shapely.difference(covered, parsed.geometry)
    shapes = shapely.set_precision(np.concatenate([covered, overshoot]), DISPLAY_GRID_DEG)
    properties = [
        {"operator": op, "name": world.operators[op], "kind": kind, "cells": len(positions)}
        for kind in ("coverage", "overshoot")
        for op, positions in selected.items()
    ]
    return GeoJSON(_collection(shapes, properties))


@router.post("/map/cap/zone", response_class=JSON)
async def cap_zone(request: Request, key: Key) -> JSON:
    """The zone and texts of a CAP 1.2 alert sent as the body, to import it in the page."""
    require(key, Action.RESOLVE)
    alert = parse_cap(await request.body())
    first = alert.infos[0] if alert.infos else None
    return JSON(
        {
            "zone": alert.zone(),
            "texts": alert.texts(),
            "event": first and first.event,
            "severity": first and first.severity,
            "urgency": first and first.urgency,
            "certainty": first and first.certainty,
            "reference": alert.reference,
        }
    )


def _collection(geometries: np.ndarray, properties: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection, one feature per geometry (empty ones left out)."""
    features = [
        {"type": "Feature", "geometry": to_geojson(g), "properties": p}
        for g, p in zip(geometries, properties, strict=True)
        if not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}
