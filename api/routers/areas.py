"""``GET /v1/areas``, ``GET /v1/areas/{code}``: the world's regions, provinces and municipalities."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import Areas, Key
from api.errors import NotFound, problems
from api.responses import JSON, GeoJSON
from geoalert.jurisdiction import Action, require
from geoalert.zones import to_geojson

router = APIRouter(prefix="/v1", tags=["areas"])

Level = Literal["region", "province", "municipality"]
PROPERTIES = [
    "code",
    "level",
    "name",
    "name_nl",
    "name_fr",
    "name_de",
    "parent_code",
    "province_code",
    "region_code",
]


class Area(BaseModel):
    code: str
    level: Level
    name: str
    name_nl: str | None
    name_fr: str | None
    name_de: str | None
    parent_code: str | None
    province_code: str | None
    region_code: str | None


class AreaList(BaseModel):
    areas: list[Area]


class AreaFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: Area


def _properties(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Area attributes as JSON records (missing names as null)."""
    rows = rows[PROPERTIES].astype(object)
    return rows.where(rows.notna(), None).to_dict(orient="records")


@router.get(
    "/areas",
    operation_id="listAreas",
    summary="List areas",
    response_class=JSON,
    responses={200: {"model": AreaList}, **problems(401, 422, 429)},
)
def list_areas(
    key: Key,
    areas: Areas,
    level: Annotated[Level | None, Query(description="Only areas of this level.")] = None,
):
    """Every region, province and municipality of the world (NIS codes, names, parents),
    without geometry; ``GET /v1/areas/{code}`` gives one with its outline."""
    require(key, Action.REFERENCE)
    rows = areas if level is None else areas[areas["level"] == level]
    return JSON({"areas": _properties(rows)})


@router.get(
    "/areas/{code}",
    operation_id="getArea",
    summary="One area as GeoJSON",
    response_class=GeoJSON,
    responses={200: {"model": AreaFeature}, **problems(401, 404, 429)},
)
def get_area(key: Key, areas: Areas, code: Annotated[str, Path(description="NIS code.")]):
    """An area as a GeoJSON Feature: its outline (EPSG:4326) and attributes."""
    require(key, Action.REFERENCE)
    if code not in areas.index:
        raise NotFound(f"unknown area {code!r}: no such NIS code in this world")
    (properties,) = _properties(areas.loc[[code]])
    geometry = to_geojson(areas.at[code, "geometry"])
    return GeoJSON({"type": "Feature", "id": code, "geometry": geometry, "properties": properties})
