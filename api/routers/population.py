"""``GET /v1/population``: present-population aggregates of an area (k-anonymous)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import Areas, Key, Store, Territories, World
from api.errors import NotFound, problems
from api.responses import JSON
from geoalert.audit import resolve_record
from geoalert.jurisdiction import Action

router = APIRouter(prefix="/v1", tags=["population"])


class AreaPopulation(BaseModel):
    area: dict[str, str]
    population: dict[str, Any]


@router.get(
    "/population",
    operation_id="getPopulation",
    summary="Present population of an area",
    response_class=JSON,
    responses={200: {"model": AreaPopulation}, **problems(401, 403, 404, 422, 429)},
)
def get_population(
    key: Key,
    world: World,
    areas: Areas,
    territories: Territories,
    store: Store,
    area: Annotated[str, Query(description="NIS code of a municipality, province or region.")],
    at: Annotated[
        datetime | None, Query(description="Time asked for; the latest bucket by default.")
    ] = None,
):
    """People present in an area in the presence bucket holding ``at``, estimated from the
    operators' device counts: published figures only (k-anonymous, rounded, with an
    interval). Open to operator keys; other keys within their jurisdiction."""
    if area not in areas.index:
        raise NotFound(f"unknown area {area!r}: no such NIS code in this world")
    territories.check_area(key, area, Action.POPULATION)
    resolution = world.resolve({"area": area}, include=["population"], at=at)
    resolved = resolution.to_dict()
    store.append_audit(resolve_record(key.name, resolution, resolved, action="population"))
    row = areas.loc[area]
    summary = {"code": area, "level": row["level"], "name": row["name"]}
    return JSON({"area": summary, "population": resolved["population"]})
