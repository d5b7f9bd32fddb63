"""The application factory: ``create_app(settings)``, served by ``geoalert serve``.

The world is opened once per process in :func:`lifespan` and held on ``app.state``; the
routers only translate HTTP to calls on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import geoalert
from api import docs, errors
from api.limits import BodySizeLimit
from api.ratelimit import TokenBuckets
from api.routers import health
from geoalert.jurisdiction import Jurisdictions
from geoalert.settings import Settings, get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the world, its key store and the territories once, for the process's life."""
    settings: Settings = app.state.settings
    if settings.data_dir is None:
        raise RuntimeError("no world to serve: set GEOALERT_DATA_DIR or pass --data")
    engine = geoalert.Engine.open(settings.data_dir, db=settings.db_url)
    app.state.engine = engine
    app.state.jurisdictions = Jurisdictions(
        engine.areas, metric_crs=settings.metric_crs, tolerance_m=settings.jurisdiction_tolerance_m
    )
    app.state.rate_limits = TokenBuckets(settings.api_rate_per_s, settings.api_rate_burst)
    try:
        yield
    finally:
        app.state.engine = None


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
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    errors.install(app)
    docs.install(app)
    app.include_router(health.router)
    return app
