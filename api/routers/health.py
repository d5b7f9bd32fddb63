"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.errors import NotReady

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", operation_id="healthz", summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The world is loaded and requests can be served",
    responses={503: {"description": "Still loading"}},
)
async def readyz(request: Request) -> Health:
    if getattr(request.app.state, "engine", None) is None:
        raise NotReady("the world is still loading")
    return Health(status="ready")
