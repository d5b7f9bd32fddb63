"""``POST /v1/resolve``: a zone into cells, addresses, contacts and present population."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import Key, Store, Territories, World
from api.errors import problems
from api.models import Resolution, ResolveRequest
from api.responses import JSON
from geoalert.audit import record, resolution_counts
from geoalert.jurisdiction import Action, require

router = APIRouter(prefix="/v1", tags=["resolve"])


@router.post(
    "/resolve",
    operation_id="resolve",
    summary="Resolve an alert zone",
    response_class=JSON,
    responses={200: {"model": Resolution}, **problems(400, 401, 403, 413, 422, 429)},
)
def resolve(
    request: Request,
    body: ResolveRequest,
    key: Key,
    world: World,
    territories: Territories,
    store: Store,
):
    """Resolve a zone, in any accepted form, into the cells of each operator whose coverage
    touches it, the registered addresses and contacts in it and the population present in
    it: the content of ``geoalert.Resolution.to_dict()``.

    The zone must lie within the key's jurisdiction; every resolution is written to the
    audit log (key name, time, zone hash and area, counts).
    """
    require(key, Action.RESOLVE)
    zone = world.zone(body.zone)
    territories.check_zone(key, zone.geometry)
    cache = request.app.state.resolutions
    asked = orjson.dumps(
        [world.data_version(), body.model_dump(mode="json")], option=orjson.OPT_SORT_KEYS
    )
    entry = cache.get(asked)
    if entry is None:
        resolved = world.resolve(
            zone, include=body.include, operators=body.operators, at=body.at, policy=body.policy
        ).to_dict()
        content, counted = JSON(resolved).body, resolution_counts(resolved)
        cache.put(asked, content, counted)
    else:
        content, counted = entry.body, entry.counts
    store.append_audit(record("resolve", key.name, zone, counted))
    return Response(content, media_type=JSON.media_type)
