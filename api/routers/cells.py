"""``GET /v1/cells/{cell_id}``: one cell, its coverage and attributes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from api.deps import Key, World
from api.errors import NotFound, problems
from api.responses import GeoJSON
from geoalert.jurisdiction import Action, require
from geoalert.zones import to_geojson

router = APIRouter(prefix="/v1", tags=["cells"])


class CellFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


def _positions(request: Request, index) -> dict[str, int]:
    """Cell id -> position in the engine's cell index, built on first use."""
    state = request.app.state
    if getattr(state, "cell_positions", None) is None:
        state.cell_positions = {cid: i for i, cid in enumerate(index.cell_id.tolist())}
    return state.cell_positions


@router.get(
    "/cells/{cell_id}",
    operation_id="getCell",
    summary="One cell as GeoJSON",
    response_class=GeoJSON,
    responses={200: {"model": CellFeature}, **problems(401, 404, 429)},
)
def get_cell(
    request: Request,
    key: Key,
    world: World,
    cell_id: Annotated[str, Path(description="`{mcc}-{mnc}-{node}-{cid}`, e.g. 206-01-12345-3.")],
):
    """A cell as a GeoJSON Feature: coverage polygon (EPSG:4326), operator, site, radio,
    band, frequency, azimuth (degrees clockwise from north, null for omni) and range."""
    require(key, Action.REFERENCE)
    index = world.indexes["cells"].index
    position = _positions(request, index).get(cell_id)
    if position is None:
        raise NotFound(f"unknown cell {cell_id!r}: no such cell id in this world")
    properties = {"cell_id": cell_id, "operator": index.operator[position]}
    properties.update({name: column[position] for name, column in index.columns.items()})
    geometry = to_geojson(index.geometry[position])
    return GeoJSON(
        {"type": "Feature", "id": cell_id, "geometry": geometry, "properties": properties}
    )
