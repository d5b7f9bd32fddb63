"""Dependencies injected into the routers: the world, the caller's key, its territory."""

from __future__ import annotations

from typing import Annotated

import geopandas as gpd
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import RateLimited, Unauthenticated
from geoalert.engine import Engine
from geoalert.jurisdiction import Jurisdictions
from geoalert.keys import authenticate
from geodata.stores import BaseStore
from geodata.stores.access import KeyRecord

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key from `geoalert keys create`, sent as `Authorization: Bearer <key>`.",
)

_NO_KEY = "a valid API key is required, sent as 'Authorization: Bearer <key>'"


async def current_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> KeyRecord:
    """The caller's key, authenticated and within its rate; 401 or 429 otherwise.

    A missing, unknown and revoked key get the same answer, which reveals nothing.
    """
    state = request.app.state
    secret = None if credentials is None else credentials.credentials
    key = None if secret is None else authenticate(state.engine.store, secret)
    if key is None:
        raise Unauthenticated(_NO_KEY)
    wait_s = state.rate_limits.take(key.secret_hash)
    if wait_s:
        raise RateLimited(f"this key's rate limit is reached; retry in {wait_s:.1f} s", wait_s)
    return key


async def _engine(request: Request) -> Engine:
    return request.app.state.engine


async def _store(request: Request) -> BaseStore:
    return request.app.state.engine.store


async def _jurisdictions(request: Request) -> Jurisdictions:
    return request.app.state.jurisdictions


async def _areas(request: Request) -> gpd.GeoDataFrame:
    return request.app.state.areas


Key = Annotated[KeyRecord, Depends(current_key)]
"""The caller's authenticated key."""
World = Annotated[Engine, Depends(_engine)]
"""The :class:`geoalert.Engine` opened once at start-up."""
Store = Annotated[BaseStore, Depends(_store)]
"""The world's store (keys, audit)."""
Territories = Annotated[Jurisdictions, Depends(_jurisdictions)]
"""Territories of keys, built once at start-up from the world's areas."""
Areas = Annotated[gpd.GeoDataFrame, Depends(_areas)]
"""The world's areas (EPSG:4326), indexed by NIS code."""
