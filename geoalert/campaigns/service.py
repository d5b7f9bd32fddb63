"""Campaigns from request to report: accept, prepare, send, report, resume, cancel.

:func:`accept` checks a request and stores it (state ``accepted``) before anything is
answered, so that no accepted campaign is lost. :func:`prepare` resolves its targets (the
contacts part's target list for the zone, the groups' members), builds one message per
person and channel in the person's language and one request per operator for the operators'
channels (:func:`geoalert.messages.broadcast.alert_requests`), and queues them all in one
transaction. :func:`run` prepares when needed and sends (:class:`~.sender.Sender`) through
the configured adapters, or the simulation adapter. :func:`report` counts the outcome.
Sending a campaign again after a crash resumes it (:func:`send` needs only the store).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from geoalert.audit import zone_hash
from geoalert.campaigns.adapters import build_adapters, read_providers
from geoalert.campaigns.content import build_contents, person_languages, render_template
from geoalert.campaigns.model import (
    OPERATOR_CHANNELS,
    CampaignError,
    CampaignSpec,
    CampaignState,
    MessageState,
)
from geoalert.campaigns.queue import CampaignRecord, CampaignStore
from geoalert.campaigns.sender import Sender
from geoalert.settings import Settings
from geodata.contact_index import ContactSelection

__all__ = ["accept", "audit_record", "prepare", "prepare_or_fail", "report", "run", "send"]

#: Resolutions of a campaign's zone and groups tried before giving up on a register that
#: keeps changing in between (each change is taken in at most once per refresh interval).
TARGET_ATTEMPTS = 5

#: Campaign states a sender takes up (after a crash too).
RUNNABLE = (CampaignState.ACCEPTED, CampaignState.QUEUED, CampaignState.SENDING)


def campaign_store(engine) -> CampaignStore:
    """The campaign store of an engine's store."""
    return CampaignStore(engine.store.engine)


def accept(
    engine,
    spec: CampaignSpec,
    *,
    key_name: str | None,
    request_key: str | None = None,
) -> CampaignRecord:
    """Check a campaign and store it (state ``accepted``, committed).

    A template is rendered now, so that the campaign keeps its texts if the template
    changes later. The zone, the groups and the texts are checked before anything is stored.

    Raises
    ------
    CampaignError, geoalert.zones.ZoneError, geodata.stores.groups.UnknownGroup
    """
    store = campaign_store(engine)
    template = spec.template
    if template is not None:
        stored = store.template(template)
        rendered = render_template(stored, spec.params)
        spec = spec.model_copy(
            update={
                "texts": rendered["texts"],
                "headlines": {**rendered["headlines"], **spec.headlines},
                "template": None,
                "params": {},
            }
        )
        spec = CampaignSpec.model_validate(spec.model_dump())
    zone = engine.zone(spec.zone) if spec.zone is not None else None
    for group_id in spec.groups:
        engine.group(group_id)
    build_contents(spec, engine.settings)
    summary: dict[str, Any] = {"template": template}
    if zone is not None:
        summary["zone"] = {"hash": zone_hash(zone.geometry), "area_km2": zone.area_km2}
    return store.create(
        spec.model_dump(mode="json"),
        mode=spec.mode,
        key_name=key_name,
        request_key=request_key,
        summary=summary,
    )


def _targets(engine, spec: CampaignSpec) -> ContactSelection:
    """The people of the zone and of the groups, each once (rows of one state of the
    register: resolved again in the rare case the register was refreshed in between).

    Raises
    ------
    CampaignError
        The register changed between the two resolutions :data:`TARGET_ATTEMPTS` times.
    """
    for _ in range(TARGET_ATTEMPTS):
        selections = []
        if spec.zone is not None:
            selections.append(engine.resolve(spec.zone, include=["contacts"])["contacts"].selection)
        if spec.groups:
            selections.append(engine.resolve_groups(spec.groups).contacts.selection)
        if all(s.index is selections[0].index for s in selections):
            rows = np.unique(np.concatenate([s.rows for s in selections]))
            return ContactSelection(selections[0].index, rows)
    raise CampaignError(
        f"the register of contacts changed while the targets were resolved, "
        f"{TARGET_ATTEMPTS} times in a row"
    )


def prepare(engine, store: CampaignStore, record: CampaignRecord) -> dict[str, tuple[int, int]]:
    """Resolve an accepted campaign's targets and queue all its messages (one transaction).

    Returns
    -------
    dict
        ``{channel: (first seq, end seq)}``.
    """
    spec = CampaignSpec.model_validate(record.spec)
    contents = build_contents(spec, engine.settings)
    person = [str(c) for c in spec.channels if c not in OPERATOR_CHANNELS]
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {c: [] for c in person}
    people = 0
    if person:
        selection = _targets(engine, spec)
        people = selection.count
        for batch in selection.targets():
            channel = batch.column("channel").dictionary.to_numpy(zero_copy_only=False)[
                batch.column("channel").indices.to_numpy()
            ]
            language = batch.column("language").dictionary.to_numpy(zero_copy_only=False)[
                batch.column("language").indices.to_numpy()
            ]
            contact_id = batch.column("contact_id").to_numpy()
            for c in person:
                mine = channel == c
                found[c].append((contact_id[mine], language[mine]))
    blocks = []
    for c in person:
        ids = np.concatenate([np.empty(0, np.int64)] + [f[0] for f in found[c]])
        langs = person_languages(
            np.concatenate([np.empty(0, object)] + [f[1] for f in found[c]]), spec.languages
        )
        units_by_lang = {lang: content.units for lang, content in contents[c].items()}
        units = np.array([units_by_lang[lang] for lang in spec.languages], np.int64)
        codes = np.searchsorted(
            np.array(spec.languages, object), langs, sorter=np.argsort(spec.languages)
        )
        order = np.argsort(spec.languages)
        blocks.append(
            {
                "channel": c,
                "contact_id": ids,
                "language": langs,
                "units": units[order[codes]] if len(langs) else np.empty(0, np.int64),
            }
        )
    summary = dict(record.summary or {})
    summary["targets"] = {
        "people": people,
        "by_channel": {b["channel"]: len(b["language"]) for b in blocks},
    }
    operator_channels = [str(c) for c in spec.channels if c in OPERATOR_CHANNELS]
    if operator_channels:
        requests = _operator_requests(engine, spec)
        summary["operators"] = requests
        for c in operator_channels:
            ops = sorted(requests[c])
            blocks.append(
                {
                    "channel": c,
                    "operator": ops,
                    "language": [spec.languages[0]] * len(ops),
                    "units": [0] * len(ops),
                }
            )
    return store.enqueue(record.campaign_id, blocks, summary=summary)


def _operator_requests(engine, spec: CampaignSpec) -> dict[str, dict[str, dict]]:
    """Per operator channel, the request to each operator whose cells the zone touches."""
    from geoalert.messages.broadcast import alert_requests

    out = alert_requests(
        engine,
        spec.zone,
        dict(spec.texts),
        spec.severity,
        spec.urgency,
        spec.certainty,
        status="Exercise" if spec.mode == "simulation" else "Actual",
        primary_language=spec.languages[0],
    )
    return {
        "cell_broadcast": {
            r["operator"]: r for r in out["cell_broadcast"] if r["operation"] == "write-replace"
        },
        "alert_sms": {r["operator"]: r for r in out["alert_sms"]},
        "alert": out["alert"],
    }


def _contents(spec: CampaignSpec, record: CampaignRecord, settings) -> dict[str, Mapping]:
    contents: dict[str, Mapping] = dict(build_contents(spec, settings))
    for c in OPERATOR_CHANNELS:
        if c in spec.channels:
            contents[str(c)] = record.summary["operators"][str(c)]
    return contents


async def run(engine, campaign_id: int, **kwargs: Any) -> dict[str, Any]:
    """Prepare (when accepted) and send a campaign until it is finished or cancelled; resume
    it when it was interrupted. Returns its :func:`report`. Keywords as for :func:`send`."""
    store = campaign_store(engine)
    record = store.get(campaign_id)
    if record.state == CampaignState.ACCEPTED:
        prepare_or_fail(engine, store, record)
    return await send(engine.store, campaign_id, engine.settings, **kwargs)


def prepare_or_fail(engine, store: CampaignStore, record: CampaignRecord) -> None:
    """:func:`prepare`, or, when the campaign cannot be prepared, mark it failed with the
    reason in its summary (``"error"``) and raise.

    Raises
    ------
    CampaignError
    """
    try:
        prepare(engine, store, record)
    except CampaignError as error:
        current = store.get(record.campaign_id)
        if current.state == CampaignState.ACCEPTED:  # not cancelled meanwhile
            store.set_state(
                record.campaign_id,
                CampaignState.FAILED,
                summary={**current.summary, "error": str(error)},
            )
        raise


async def send(
    world_store,
    campaign_id: int,
    settings: Settings,
    *,
    providers: Mapping[str, Mapping[str, Any]] | str | None = None,
    on_progress: Callable[[dict], None] | None = None,
    flush_interval_s: float = 0.25,
) -> dict[str, Any]:
    """Send a queued campaign (or resume one being sent) until it is finished or cancelled;
    its :func:`report`. Needs only the store: no world is loaded.

    Parameters
    ----------
    world_store : geodata.stores.BaseStore
    settings : Settings
    providers : mapping, path or None
        Providers per channel (see :mod:`geoalert.campaigns.adapters`); the settings'
        ``campaign_providers`` file when None. Not needed in simulation.
    """
    store = CampaignStore(world_store.engine)
    record = store.get(campaign_id)
    if record.state not in (CampaignState.QUEUED, CampaignState.SENDING):
        return report(store, campaign_id, settings.segment_cost_eur)
    spec = CampaignSpec.model_validate(record.spec)
    adapters = build_adapters(
        read_providers(providers if providers is not None else settings.campaign_providers),
        [str(c) for c in spec.channels],
        simulation=spec.mode == "simulation",
    )
    sender = Sender(
        store,
        campaign_id,
        adapters,
        _contents(spec, record, settings),
        flush_interval_s=flush_interval_s,
        on_progress=on_progress,
    )
    await sender.run()
    final = report(store, campaign_id, settings.segment_cost_eur)
    store.update(campaign_id, summary={**store.get(campaign_id).summary, "report": final})
    return final


def report(store: CampaignStore, campaign_id: int, unit_cost_eur: float = 0.055) -> dict[str, Any]:
    """What became of a campaign's messages: per channel the messages, sent (accepted by the
    provider, delivered included), delivered, failed with their reasons, cancelled and still
    open, cost units (SMS segments, voice minutes) and cost; the duration; the operators'
    Alert-SMS estimated cost."""
    record = store.get(campaign_id)
    channels: dict[str, dict[str, Any]] = {}
    for channel, state, reason, n, units in store.tally(campaign_id):
        c = channels.setdefault(
            channel,
            {
                "messages": 0,
                "sent": 0,
                "delivered": 0,
                "failed": 0,
                "cancelled": 0,
                "open": 0,
                "failed_reasons": {},
                "cost_units": 0,
            },
        )
        c["messages"] += n
        if state in (MessageState.SENT, MessageState.DELIVERED):
            c["sent"] += n
            c["cost_units"] += units
            if state == MessageState.DELIVERED:
                c["delivered"] += n
        elif state == MessageState.FAILED:
            c["failed"] += n
            c["failed_reasons"][reason or "unknown"] = (
                c["failed_reasons"].get(reason or "unknown", 0) + n
            )
        elif state == MessageState.CANCELLED:
            c["cancelled"] += n
        else:
            c["open"] += n
    for c in channels.values():
        c["cost_eur"] = round(c["cost_units"] * unit_cost_eur, 2)
    total = {
        k: sum(c[k] for c in channels.values())
        for k in ("messages", "sent", "delivered", "failed", "cancelled", "open")
    }
    operators = (record.summary or {}).get("operators", {})
    alert_sms = (
        sum(r.get("cost_eur", 0.0) for r in operators.get("alert_sms", {}).values())
        if channels.get("alert_sms", {}).get("sent")
        else 0.0
    )
    end = record.finished_at or dt.datetime.now(dt.UTC)
    return {
        "campaign_id": record.campaign_id,
        "mode": record.mode,
        "state": record.state,
        "channels": channels,
        "total": total,
        "cost_eur": round(sum(c["cost_eur"] for c in channels.values()) + alert_sms, 2),
        "alert_sms_estimated_cost_eur": round(alert_sms, 2),
        "created_at": record.created_at.isoformat(),
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "duration_s": round((end - record.created_at).total_seconds(), 3),
        "sending_s": round((end - record.started_at).total_seconds(), 3)
        if record.started_at
        else None,
    }


def audit_record(record: CampaignRecord, action: str = "campaign") -> dict[str, Any]:
    """The audit record of a campaign (no personal data): id, mode, channels, groups, the
    zone's hash and area, its state and counts."""
    spec = record.spec
    summary = record.summary or {}
    return {
        "action": action,
        "key_name": record.key_name,
        "campaign_id": record.campaign_id,
        "mode": record.mode,
        "state": record.state,
        "channels": list(spec.get("channels", [])),
        "groups": list(spec.get("groups", [])),
        "languages": sorted((spec.get("texts") or {}).keys()),
        **(
            {"zone_hash": summary["zone"]["hash"], "area_km2": summary["zone"]["area_km2"]}
            if "zone" in summary
            else {}
        ),
        **({"targets": summary["targets"]} if "targets" in summary else {}),
    }
