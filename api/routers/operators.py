"""``GET /v1/operators``: the mobile operators of the world."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Key, World
from api.errors import problems
from api.responses import JSON
from geoalert.jurisdiction import Action, require

router = APIRouter(prefix="/v1", tags=["operators"])


class Operator(BaseModel):
    mnc: str
    name: str


class OperatorList(BaseModel):
    operators: list[Operator]


@router.get(
    "/operators",
    operation_id="listOperators",
    summary="List mobile operators",
    response_class=JSON,
    responses={200: {"model": OperatorList}, **problems(401, 429)},
)
def list_operators(key: Key, world: World):
    """Operators by mobile network code (MNC, with MCC 206), as named in ``operators``."""
    require(key, Action.REFERENCE)
    return JSON({"operators": [{"mnc": m, "name": n} for m, n in world.operators.items()]})
