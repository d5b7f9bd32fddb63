"""``/v1/campaigns``: launch a campaign, follow it live (SSE), read its report, cancel it; list
the recent campaigns and the templates prepared in advance.

A campaign is stored (state ``accepted``, committed) before ``202 Accepted`` is answered, and
then prepared and sent in the background by this process; a process that stops leaves it in
the store, and the next one takes it up when it starts (:func:`resume_unfinished`). When the
store cannot be written the answer is ``503`` and nothing is accepted. An ``Idempotency-Key``
header makes a repeated request (after a time-out or a 503) the same campaign.

Only keys whose role and jurisdiction allow alerting the zone (and each group's area) may
launch a campaign; every launch and cancellation is written to the audit log.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from api.deps import Key, Store, Territories, World
from api.errors import NotFound, problems
from geoalert.campaigns import service
from geoalert.campaigns.model import (
    FINAL_CAMPAIGN_STATES,
    CampaignError,
    CampaignSpec,
    CampaignState,
)
from geoalert.campaigns.queue import CampaignRecord, CampaignStore
from geoalert.jurisdiction import Action, NotPermitted
from geoalert.keys import Role
from geodata.stores.groups import UnknownGroup

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
log = logging.getLogger("geoalert.api")

#: Seconds between two progress events of the live stream.
EVENT_INTERVAL_S = 0.5
_UNAVAILABLE = "the campaign store is unavailable; nothing was accepted, retry later"


def campaign_store(request: Request) -> CampaignStore:
    """The campaigns of the served world's store."""
    return CampaignStore(request.app.state.engine.store.engine)


Campaigns = Annotated[CampaignStore, Depends(campaign_store)]


def _unavailable(error: sa.exc.SQLAlchemyError) -> HTTPException:
    log.error("campaign store unavailable: %s", type(error).__name__)
    return HTTPException(503, _UNAVAILABLE)


def _view(record: CampaignRecord) -> dict[str, Any]:
    summary = record.summary or {}
    return {
        "campaign_id": record.campaign_id,
        "launched_by": record.key_name,
        "state": record.state,
        "mode": record.mode,
        "channels": record.spec.get("channels", []),
        "created_at": record.created_at.isoformat(),
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "targets": summary.get("targets"),
        "error": summary.get("error"),
        "progress": record.progress,
        "links": {
            "self": f"/v1/campaigns/{record.campaign_id}",
            "events": f"/v1/campaigns/{record.campaign_id}/events",
            "report": f"/v1/campaigns/{record.campaign_id}/report",
            "cancel": f"/v1/campaigns/{record.campaign_id}/cancel",
        },
    }


def _check_launch(key, spec: CampaignSpec, world, territories) -> None:
    """Refuse unless the key may alert the zone and every group."""
    if spec.zone is not None:
        territories.check_zone(key, world.zone(spec.zone).geometry)
    for group_id in spec.groups:
        try:
            group = world.group(group_id)
        except UnknownGroup as error:
            raise NotFound(str(error)) from None
        territories.check_area(key, group.area_code, Action.GROUPS)


def _sees_all(key) -> bool:
    """Whether a key may see every campaign (else only those it launched)."""
    return key.role in (Role.FEDERAL, Role.ADMIN)


def _get(store: CampaignStore, campaign_id: int, key) -> CampaignRecord:
    """A campaign the key may see: its own, or any for federal and admin keys."""
    try:
        record = store.get(campaign_id)
    except LookupError:
        raise NotFound(f"no campaign {campaign_id}") from None
    except sa.exc.SQLAlchemyError as error:
        raise _unavailable(error) from None
    if record.key_name != key.name and not _sees_all(key):
        raise NotPermitted(f"campaign {campaign_id} was launched by another key")
    return record


@router.post(
    "",
    operation_id="launchCampaign",
    summary="Launch a campaign on a zone and/or groups",
    status_code=202,
    responses={
        202: {"description": "Accepted: stored and being sent."},
        **problems(400, 401, 403, 404, 413, 422, 429, 503),
    },
)
async def launch(
    spec: CampaignSpec,
    request: Request,
    response: Response,
    key: Key,
    world: World,
    territories: Territories,
    store: Store,
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="Makes a repeated request one campaign.")
    ] = None,
) -> dict[str, Any]:
    """Check the key may alert the zone and groups, store the campaign, answer 202 and send
    it in the background: resolve its targets, one message per person and channel in their
    language, the operators' requests; follow it at ``links.events``."""
    _check_launch(key, spec, world, territories)
    request_key = None
    if idempotency_key is not None:
        request_key = hashlib.sha256(f"{key.name}\0{idempotency_key}".encode()).hexdigest()
    try:
        record = await asyncio.to_thread(
            lambda: service.accept(world, spec, key_name=key.name, request_key=request_key)
        )
        store.append_audit(service.audit_record(record))
    except CampaignError as error:
        raise HTTPException(422, str(error)) from None
    except UnknownGroup as error:
        raise NotFound(str(error)) from None
    except sa.exc.SQLAlchemyError as error:
        raise _unavailable(error) from None
    start(request.app, record.campaign_id)
    response.headers["Location"] = f"/v1/campaigns/{record.campaign_id}"
    return _view(record)


@router.get(
    "",
    operation_id="listCampaigns",
    summary="The recent campaigns",
    responses=problems(401, 422, 429, 503),
)
def list_campaigns(
    key: Key,
    campaigns: Campaigns,
    limit: Annotated[int, Query(ge=1, le=100, description="Most campaigns listed.")] = 20,
) -> dict[str, Any]:
    """The newest campaigns the key may see (its own; every one for federal and admin keys),
    newest first, each as ``GET /v1/campaigns/{id}`` answers it."""
    try:
        records = campaigns.recent(limit, key_name=None if _sees_all(key) else key.name)
    except sa.exc.SQLAlchemyError as error:
        raise _unavailable(error) from None
    return {"campaigns": [_view(record) for record in records]}


@router.get(
    "/templates",
    operation_id="listCampaignTemplates",
    summary="Templates prepared in advance",
    responses=problems(401, 429, 503),
)
def list_templates(key: Key, campaigns: Campaigns) -> dict[str, Any]:
    """The stored templates by name: texts and e-mail subjects per language, whose
    ``$placeholders`` a launch fills from its ``params``."""
    try:
        templates = [{"name": name, **campaigns.template(name)} for name in campaigns.templates()]
    except sa.exc.SQLAlchemyError as error:
        raise _unavailable(error) from None
    return {"templates": templates}


@router.get(
    "/{campaign_id}",
    operation_id="getCampaign",
    summary="A campaign's state and progress",
    responses=problems(401, 403, 404, 429, 503),
)
def get_campaign(campaign_id: int, key: Key, campaigns: Campaigns) -> dict[str, Any]:
    """State, targets and live progress (messages per channel and state)."""
    return _view(_get(campaigns, campaign_id, key))


@router.get(
    "/{campaign_id}/report",
    operation_id="campaignReport",
    summary="A campaign's report",
    responses=problems(401, 403, 404, 429, 503),
)
def campaign_report(
    campaign_id: int, key: Key, campaigns: Campaigns, world: World
) -> dict[str, Any]:
    """Per channel: messages, sent, delivered, failed with reasons, cancelled, still open,
    cost; the duration and the total cost."""
    _get(campaigns, campaign_id, key)
    return service.report(campaigns, campaign_id, world.settings.segment_cost_eur)


@router.post(
    "/{campaign_id}/cancel",
    operation_id="cancelCampaign",
    summary="Cancel a campaign",
    responses=problems(401, 403, 404, 409, 429, 503),
)
def cancel_campaign(
    campaign_id: int, key: Key, campaigns: Campaigns, store: Store
) -> dict[str, Any]:
    """Stop sending: messages still waiting are cancelled (those being handed over finish)."""
    _get(campaigns, campaign_id, key)
    try:
        record = campaigns.cancel(campaign_id)
    except CampaignError as error:
        raise HTTPException(409, str(error)) from None
    except sa.exc.SQLAlchemyError as error:
        raise _unavailable(error) from None
    store.append_audit({**service.audit_record(record, "campaign-cancel"), "key_name": key.name})
    return _view(record)


@router.get(
    "/{campaign_id}/events",
    operation_id="campaignEvents",
    summary="Live progress as server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Event stream."},
        **problems(401, 403, 404, 429, 503),
    },
)
async def campaign_events(
    campaign_id: int, key: Key, campaigns: Campaigns, world: World
) -> StreamingResponse:
    """``progress`` events (messages per channel and state) while the campaign runs, then one
    ``report`` event once it is finished or cancelled and no message is open, and the stream
    ends."""
    _get(campaigns, campaign_id, key)

    async def events() -> AsyncIterator[bytes]:
        last = None
        while True:
            record = await asyncio.to_thread(campaigns.get, campaign_id)
            view = _view(record)
            if view["progress"] != last or record.state in FINAL_CAMPAIGN_STATES:
                last = view["progress"]
                yield b"event: progress\ndata: " + orjson.dumps(view) + b"\n\n"
            if record.state in FINAL_CAMPAIGN_STATES:
                # A cancelled campaign's sender may still be closing its last batch.
                report = await asyncio.to_thread(
                    service.report, campaigns, campaign_id, world.settings.segment_cost_eur
                )
                if report["total"]["open"] == 0:
                    yield b"event: report\ndata: " + orjson.dumps(report) + b"\n\n"
                    return
            await asyncio.sleep(EVENT_INTERVAL_S)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


# -- background sending ----------------------------------------------------------------------


def start(app: FastAPI, campaign_id: int) -> None:
    """Prepare and send a campaign in this process's event loop (once per campaign)."""
    tasks: dict[int, asyncio.Task] = app.state.__dict__.setdefault("campaign_tasks", {})
    if campaign_id in tasks and not tasks[campaign_id].done():
        return
    tasks[campaign_id] = asyncio.get_running_loop().create_task(_run(app, campaign_id))


async def _run(app: FastAPI, campaign_id: int) -> None:
    engine = app.state.engine
    store = CampaignStore(engine.store.engine)
    try:
        record = await asyncio.to_thread(store.get, campaign_id)
        if record.state == CampaignState.ACCEPTED:
            await asyncio.to_thread(service.prepare_or_fail, engine, store, record)
        await service.send(engine.store, campaign_id, engine.settings)
        final = await asyncio.to_thread(store.get, campaign_id)
        await asyncio.to_thread(
            engine.store.append_audit, service.audit_record(final, "campaign-end")
        )
    except CampaignError as error:  # cancelled before it was queued, for one
        log.info("campaign %d not sent: %s", campaign_id, error)
    except Exception:
        log.exception("campaign %d stopped; it resumes when the service restarts", campaign_id)


async def resume_unfinished(app: FastAPI) -> None:
    """Take up the campaigns a stopped process left unfinished, and close the messages its
    senders of cancelled campaigns left open."""
    store = CampaignStore(app.state.engine.store.engine)
    for record in await asyncio.to_thread(store.list, service.RUNNABLE):
        start(app, record.campaign_id)
    for record in await asyncio.to_thread(store.list, [CampaignState.CANCELLED]):
        await asyncio.to_thread(store.close_cancelled, record.campaign_id)


async def stop(app: FastAPI) -> None:
    """Stop this process's senders (the campaigns stay in the store, resumed on restart)."""
    tasks = app.state.__dict__.get("campaign_tasks", {})
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
