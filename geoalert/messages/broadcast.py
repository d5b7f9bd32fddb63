"""Requests to the operators: cell broadcast (SBc-AP Write-Replace / Kill) and Alert-SMS.

:func:`cb_requests` writes, per operator, what its cell broadcast centre needs to broadcast an
alert: one message per language (the primary language on the level's message identifier, every
other language on the additional-language identifier, TS 23.041), each with its serial number,
data coding scheme and CB data, the cells (by radio; 2G cells also get the 88-octet GSM pages),
the repetition period and the warning area coordinates.

Updating a live alert keeps each language's message code and increments its update number
modulo 16 for every operator, so devices replace what they show; a message whose identifier
changes with the new level, a language dropped, or an operator left without cells is killed.
Cancelling kills every live message by its identifier and current serial number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence

from geoalert.messages.cbs import (
    CbsError,
    encode_cbs,
    next_update,
    serial_number,
    split_serial_number,
)
from geoalert.messages.levels import Classification

MAX_BROADCASTS = 65535
"""Largest Number of Broadcasts Requested of SBc-AP (0 means until killed)."""


def message_code_for(identifier: str) -> int:
    """A stable 10-bit message code for an alert identifier (0..1023)."""
    digest = hashlib.sha256(identifier.encode("utf-8")).digest()
    return int.from_bytes(digest[:2], "big") % 1024


def broadcasts_until(expires: dt.datetime | None, period_s: int, now: dt.datetime) -> int:
    """Number of broadcasts that repeat every ``period_s`` seconds until ``expires``.

    0 (broadcast until killed) without an expiry; at least 1; at most 65,535.
    """
    if expires is None:
        return 0
    seconds = (expires - now).total_seconds()
    if seconds <= 0:
        raise CbsError(f"the alert expires at {expires.isoformat()}, which is not after now")
    return min(MAX_BROADCASTS, max(1, math.ceil(seconds / period_s)))


def _ordered(texts: Mapping[str, str], primary: str | None) -> list[str]:
    languages = list(texts)
    if not languages:
        raise CbsError("no text to broadcast")
    primary = primary or languages[0]
    if primary not in texts:
        raise CbsError(f"primary language {primary!r} has no text (texts: {', '.join(languages)})")
    return [primary] + [lang for lang in languages if lang != primary]


def _live(previous: Sequence[Mapping]) -> dict[str, dict]:
    """Language -> its live message (identifier, serial number) in earlier requests."""
    live: dict[str, dict] = {}
    for request in previous:
        for message in request.get("messages", []):
            live.setdefault(message["language"], message)
    return live


def _kill(message: Mapping) -> dict:
    return {
        "language": message["language"],
        "message_identifier": message["message_identifier"],
        "serial_number": message["serial_number"],
    }


def cb_requests(
    texts: Mapping[str, str],
    classification: Classification,
    cells: Iterable[Mapping],
    *,
    message_code: int,
    primary_language: str | None = None,
    geographical_scope: str = "plmn",
    warning_area: bytes | None = None,
    repetition_period_s: int = 60,
    number_of_broadcasts: int = 0,
    previous: Sequence[Mapping] | None = None,
) -> list[dict]:
    """Per operator, the cell broadcast request for an alert, or for its update.

    Parameters
    ----------
    texts : language -> message (``nl``, ``fr``...)
    classification : the alert's level and identifiers (:func:`~geoalert.messages.levels.classify`)
    cells : records with ``cell_id``, ``operator`` and optionally ``operator_name``, ``radio``
    message_code : 10-bit code of the alert (:func:`message_code_for`); the language at
        position ``i`` (primary first) gets ``message_code + i`` (mod 1024), so messages that
        share an identifier never share a serial number
    primary_language : language on the level's identifier (default: the first text)
    geographical_scope : serial number scope (``plmn`` by default: a device shows the alert
        once however often it changes cell)
    warning_area : warning area coordinates (:func:`~geoalert.messages.area.encode_wac`)
    repetition_period_s, number_of_broadcasts : repetition (0 broadcasts: until killed)
    previous : the requests of the live alert when this is an update

    Returns
    -------
    list of dict
        One request per operator, sorted by MNC: ``operation`` (``write-replace``, or ``kill``
        for an operator of the live alert without cells now), ``messages``, ``kill`` (live
        messages to stop), ``cells`` by radio, repetition and warning area.
    """
    if not 1 <= repetition_period_s <= 4095:
        raise CbsError(f"repetition period {repetition_period_s} s is outside 1..4095")
    if not 0 <= number_of_broadcasts <= MAX_BROADCASTS:
        raise CbsError(f"number of broadcasts {number_of_broadcasts} is outside 0..65535")
    languages = _ordered(texts, primary_language)
    live = _live(previous or [])
    used = {split_serial_number(m["serial_number"])[1] for m in live.values()}
    messages: list[dict] = []
    kills: list[dict] = []
    for i, lang in enumerate(languages):
        identifier = classification.identifier(additional_language=i > 0)
        old = live.get(lang)
        if old is not None:
            sn = serial_number(
                *split_serial_number(next_update(old["serial_number"]))[1:], geographical_scope
            )
            if old["message_identifier"] != identifier:
                kills.append(_kill(old))
        else:
            code = (message_code + i) % 1024
            while code in used:
                code = (code + 1) % 1024
            used.add(code)
            sn = serial_number(code, 0, geographical_scope)
        encoded = encode_cbs(texts[lang], lang)
        scope, code, update = split_serial_number(sn)
        messages.append(
            {
                "language": lang,
                "message_identifier": identifier,
                "serial_number": sn,
                "serial_number_hex": f"{sn:04X}",
                "geographical_scope": scope,
                "message_code": code,
                "update_number": update,
                "data_coding_scheme": encoded.data_coding_scheme,
                "encoding": encoded.encoding,
                "characters": len(texts[lang]),
                "pages": len(encoded.pages),
                "cb_data": encoded.cb_data().hex().upper(),
                "_encoded": encoded,
            }
        )
    kills += [_kill(m) for lang, m in live.items() if lang not in texts]

    by_operator: dict[str, dict] = {}
    for cell in cells:
        op = str(cell["operator"])
        entry = by_operator.setdefault(
            op,
            {
                "name": cell.get("operator_name"),
                "plmn": "-".join(str(cell["cell_id"]).split("-")[:2]),
                "cells": {},
            },
        )
        entry["cells"].setdefault(str(cell.get("radio") or "unknown"), []).append(
            str(cell["cell_id"])
        )
    previous_ops = {str(r["operator"]): r for r in previous or []}
    requests = []
    for op in sorted(set(by_operator) | set(previous_ops)):
        entry = by_operator.get(op)
        if entry is None:  # the live alert reached this operator, the update does not
            old = previous_ops[op]
            requests.append(
                {
                    "operator": op,
                    "operator_name": old.get("operator_name"),
                    "plmn": old.get("plmn"),
                    "operation": "kill",
                    "messages": [],
                    "kill": [_kill(m) for m in old.get("messages", [])],
                    "cells": old.get("cells", {}),
                    "cell_count": old.get("cell_count", 0),
                }
            )
            continue
        cell_lists = {radio: sorted(ids) for radio, ids in sorted(entry["cells"].items())}
        op_messages = []
        for message in messages:
            out = {k: v for k, v in message.items() if k != "_encoded"}
            if "2G" in cell_lists:
                pages = message["_encoded"].gsm_pages(
                    message["message_identifier"], message["serial_number"]
                )
                out["gsm_pages"] = [page.hex().upper() for page in pages]
            op_messages.append(out)
        requests.append(
            {
                "operator": op,
                "operator_name": entry["name"],
                "plmn": entry["plmn"],
                "operation": "write-replace",
                "level": classification.level.value,
                "messages": op_messages,
                "kill": kills,
                "cells": cell_lists,
                "cell_count": sum(len(ids) for ids in cell_lists.values()),
                "repetition_period_s": repetition_period_s,
                "number_of_broadcasts_requested": number_of_broadcasts,
                "warning_area_coordinates": None
                if warning_area is None
                else warning_area.hex().upper(),
                "warning_area_coordinates_octets": 0 if warning_area is None else len(warning_area),
            }
        )
    return requests


def cb_cancel_requests(previous: Sequence[Mapping]) -> list[dict]:
    """Per operator of a live alert, the request that stops every one of its messages.

    The messages are named by identifier and current serial number, as the kill procedure of
    SBc-AP asks, on the cells they were written to.
    """
    if not previous:
        raise CbsError("no live cell broadcast requests to cancel")
    return [
        {
            "operator": r["operator"],
            "operator_name": r.get("operator_name"),
            "plmn": r.get("plmn"),
            "operation": "kill",
            "messages": [],
            "kill": [_kill(m) for m in r.get("messages", [])],
            "cells": r.get("cells", {}),
            "cell_count": r.get("cell_count", 0),
        }
        for r in sorted(previous, key=lambda r: str(r["operator"]))
        if r.get("operation") == "write-replace"
    ]


def alert_requests(
    engine,
    zone: object,
    texts: Mapping[str, str],
    severity: str,
    urgency: str,
    certainty: str,
    *,
    status: str = "Actual",
    level: str | None = None,
    identifier: str | None = None,
    primary_language: str | None = None,
    expires: dt.datetime | None = None,
    at: dt.datetime | None = None,
    operators: Iterable[str] | None = None,
    policy: str | Mapping[str, str] = "intersects",
    geographical_scope: str = "plmn",
    previous: Mapping | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Everything the operators receive for an alert on a zone, resolved with an engine.

    Returns ``{"alert": {...}, "cell_broadcast": [...], "alert_sms": [...]}``: the alert's
    identifier, level, identifiers and message code; per operator the cell broadcast request
    (:func:`cb_requests`) and the Alert-SMS request (:func:`~geoalert.messages.sms.sms_request`,
    recipients from the presence feed at ``at``). With ``previous`` (an earlier output of this
    function for the live alert) the requests update it.
    """
    from geoalert.messages.area import encode_wac, wac_polygons
    from geoalert.messages.levels import AlertLevel, classify, first_thursday
    from geoalert.messages.sms import devices_by_operator, sms_request

    settings = engine.settings
    now = now or dt.datetime.now(dt.UTC)
    classification = classify(severity, urgency, certainty, status=status, level=level)
    languages = _ordered(texts, primary_language)
    live = (previous or {}).get("alert", {})
    identifier = identifier or live.get("identifier") or f"geoalert-{uuid.uuid4()}"
    message_code = live.get("message_code", message_code_for(identifier))
    result = engine.resolve(zone, include=["cells"], operators=operators, policy=policy)
    selected = result["cells"]
    index = selected.cells.index
    p = selected.positions
    cells = [
        {"cell_id": c, "operator": op, "operator_name": name, "radio": radio}
        for c, op, name, radio in zip(
            index.cell_id[p].tolist(),
            index.operator[p].tolist(),
            index.columns["operator_name"][p].tolist(),
            index.columns["radio"][p].tolist(),
            strict=True,
        )
    ]
    warnings = list(result.zone.warnings)
    if classification.level == AlertLevel.MONTHLY_TEST:
        day = now.date()
        if day != first_thursday(day.year, day.month):
            warnings.append(f"a monthly test sent on {day.isoformat()}, not the first Thursday")
    period = settings.cb_repetition_period_s
    cell_broadcast = cb_requests(
        texts,
        classification,
        cells,
        message_code=message_code,
        primary_language=languages[0],
        geographical_scope=geographical_scope,
        warning_area=encode_wac(wac_polygons(selected.warning_area)),
        repetition_period_s=period,
        number_of_broadcasts=broadcasts_until(expires, period, now),
        previous=(previous or {}).get("cell_broadcast"),
    )
    devices = devices_by_operator(engine.store.read_presence(), [c["cell_id"] for c in cells], at)
    alert_sms = [
        sms_request(
            r["operator"],
            [c for ids in r["cells"].values() for c in ids],
            {lang: texts[lang] for lang in languages},
            devices.get(r["operator"], {}),
            default_language=languages[0],
            segment_cost_eur=settings.segment_cost_eur,
            k_anonymity=settings.k_anonymity,
            operator_name=r["operator_name"],
        )
        for r in cell_broadcast
        if r["operation"] == "write-replace"
    ]
    return {
        "alert": {
            "identifier": identifier,
            "level": classification.level.value,
            "message_identifier": classification.message_identifier,
            "additional_language_identifier": classification.additional_language_identifier,
            "message_code": message_code,
            "primary_language": languages[0],
            "expires": None if expires is None else expires.isoformat(),
            "area_km2": result.zone.area_km2,
            "warnings": warnings,
        },
        "cell_broadcast": cell_broadcast,
        "alert_sms": alert_sms,
    }


def cancel_requests(live: Mapping) -> dict:
    """The requests that stop a live alert (an output of :func:`alert_requests`)."""
    return {
        "alert": {**live.get("alert", {}), "cancelled": True},
        "cell_broadcast": cb_cancel_requests(live.get("cell_broadcast", [])),
        "alert_sms": [],
    }
