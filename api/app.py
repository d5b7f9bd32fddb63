"""The application factory: ``create_app(settings)``, served by ``geoalert serve``.

The world is opened once per process in :func:`lifespan` and held on ``app.state``; the
routers only translate HTTP to calls on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

import geoalert
from api import docs, errors, page
from api.cache import ResponseCache
from api.errors import PROBLEM_MEDIA_TYPE
from api.limits import BodySizeLimit
from api.models import ZONE_FORMS
from api.ratelimit import rate_limits
from api.routers import alerts, areas, campaigns, cells, health, operators, population, resolve
from geoalert.jurisdiction import Jurisdictions
from geoalert.settings import Settings, get_settings

ROUTERS = (resolve, areas, operators, cells, population, alerts, campaigns, health)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the world and build the territories once, for the process's life."""
    settings: Settings = app.state.settings
    if settings.data_dir is None and settings.db_url is None:
        raise RuntimeError("no world to serve: set GEOALERT_DATA_DIR (--data) or GEOALERT_DB_URL")
    engine = geoalert.Engine.open(settings.data_dir, db=settings.db_url, settings=settings)
    world_areas = engine.store.read_areas().set_index("code", drop=False).rename_axis(None)
    app.state.areas = world_areas
    app.state.jurisdictions = Jurisdictions(
        world_areas,
        metric_crs=settings.metric_crs,
        tolerance_m=settings.jurisdiction_tolerance_m,
    )
    app.state.rate_limits = rate_limits(settings)
    app.state.resolutions = ResponseCache(settings.api_cache_bytes, settings.api_cache_ttl_s)
    app.state.engine = engine
    await campaigns.resume_unfinished(app)
    try:
        yield
    finally:
        await campaigns.stop(app)
        app.state.engine = None
        engine.store.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The geoalert API for ``settings`` (the environment's when None)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="geoalert",
        version=geoalert.__version__,
        summary="Alert zones to mobile cells, registered contacts and present population.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = None
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    errors.install(app)
    docs.install(app)
    page.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the zone forms and problem responses stated exactly."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = FastAPI.openapi(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    zone = ZONE_FORMS.json_schema(ref_template="#/components/schemas/{model}")
    components.update(zone.pop("$defs"))
    components["Zone"] = zone
    for path in schema["paths"].values():
        for operation in path.values():
            responses = operation.get("responses", {})
            for status, response in responses.items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
                    response["content"] = {PROBLEM_MEDIA_TYPE: ref}
                    response["description"] = HTTPStatus(int(status)).phrase
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
