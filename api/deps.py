"""Dependencies injected into the routers: the engine, the caller's key, its territory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import RateLimited, Unauthenticated
from geoalert.jurisdiction import Jurisdictions
from geoalert.keys import authenticate
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
    key = None if credentials is None else authenticate(state.store, credentials.credentials)
    if key is None:
        raise Unauthenticated(_NO_KEY)
    wait_s = state.rate_limits.take(key.secret_hash)
    if wait_s:
        raise RateLimited(f"this key's rate limit is reached; retry in {wait_s:.1f} s", wait_s)
    return key


def engine(request: Request):
    """The :class:`geoalert.Engine` opened once at start-up."""
    return request.app.state.engine


def jurisdictions(request: Request) -> Jurisdictions:
    """Territories of keys, built once at start-up from the world's areas."""
    return request.app.state.jurisdictions


Key = Annotated[KeyRecord, Depends(current_key)]
Territories = Annotated[Jurisdictions, Depends(jurisdictions)]
