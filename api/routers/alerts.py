"""``POST /v1/alerts/cap``: the CAP 1.2 alert of a zone and its texts."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Areas, Key, Store, Territories, World
from api.errors import problems
from api.models import CapRequest
from api.responses import CapXML
from geoalert.audit import record
from geoalert.jurisdiction import Action, require
from geoalert.messages.cap import build_cap

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.post(
    "/cap",
    operation_id="buildCap",
    summary="Write the CAP 1.2 alert of a zone",
    response_class=CapXML,
    responses={
        200: {"content": {"application/cap+xml": {}}, "description": "A CAP 1.2 alert."},
        **problems(400, 401, 403, 413, 422, 429),
    },
)
def build_cap_alert(
    body: CapRequest, key: Key, world: World, areas: Areas, territories: Territories, store: Store
):
    """A CAP 1.2 alert (OASIS) for a zone within the key's jurisdiction: one ``info`` per
    language, the zone's polygons or circle and the NIS geocodes of the areas it touches."""
    require(key, Action.RESOLVE)
    zone = world.zone(body.zone)
    territories.check_zone(key, zone.geometry)
    xml = build_cap(
        body.zone,
        body.texts,
        body.event,
        body.severity,
        body.urgency,
        body.certainty,
        expires=body.expires,
        areas=areas,
        status=body.status,
        msg_type=body.msg_type,
        references=body.references,
        category=body.category,
        headlines=body.headlines,
        instructions=body.instructions,
        settings=world.settings,
    )
    store.append_audit(record("cap", key.name, zone, {"languages": len(body.texts)}))
    return CapXML(xml)
