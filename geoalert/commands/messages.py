"""``geoalert cap`` and ``geoalert broadcast``: the alert as CAP 1.2, and the operators' requests."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated

import typer

from geoalert.cli import app

_DURATION = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

DataOption = Annotated[
    Path,
    typer.Option(
        "--data", exists=True, file_okay=False, help="World directory (geoalert demo-data)."
    ),
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="PostGIS store URL; the embedded store if unset.")
]
ZoneOption = Annotated[
    str | None,
    typer.Option(
        "--zone", help="The zone as JSON (GeoJSON, circle, corridor, area, union), or @FILE."
    ),
]
TextOption = Annotated[
    list[str] | None,
    typer.Option(
        "--text", help="LANG=MESSAGE, once per language (nl, fr, de, en); the first is primary."
    ),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires", help="End of the alert: ISO 8601 (Europe/Brussels if naive) or 90m, 6h, 2d."
    ),
]


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def _read_zone(zone: str) -> str:
    if zone.startswith("@"):
        path = Path(zone[1:])
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--zone")
        return path.read_text()
    return zone


def _texts(values: list[str] | None) -> dict[str, str]:
    texts: dict[str, str] = {}
    for value in values or []:
        lang, sep, message = value.partition("=")
        lang = lang.strip()
        if not sep or not lang:
            raise typer.BadParameter(f"{value!r} is not LANG=MESSAGE", param_hint="--text")
        if lang in texts:
            raise typer.BadParameter(f"language {lang!r} given twice", param_hint="--text")
        texts[lang] = message
    return texts


def _expires(value: str | None, now: dt.datetime) -> dt.datetime | None:
    from geoalert.messages.cap import TIMEZONE

    if value is None:
        return None
    match = _DURATION.match(value.strip())
    if match:
        return now + dt.timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither ISO 8601 nor a duration such as 6h", param_hint="--expires"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=TIMEZONE)


def _previous_cap(path: Path | None):
    from geoalert.messages.cap import parse_cap

    return None if path is None else parse_cap(path.read_bytes())


@app.command()
def cap(
    data: DataOption,
    zone: Annotated[
        str,
        typer.Option(
            "--zone", help="The zone as JSON (GeoJSON, circle, corridor, area, union), or @FILE."
        ),
    ],
    event: Annotated[str, typer.Option(help="What happens (CAP event), e.g. 'Chemical fire'.")],
    severity: Annotated[str, typer.Option(help="Extreme, Severe, Moderate, Minor or Unknown.")],
    urgency: Annotated[str, typer.Option(help="Immediate, Expected, Future, Past or Unknown.")],
    certainty: Annotated[
        str, typer.Option(help="Observed, Likely, Possible, Unlikely or Unknown.")
    ],
    text: TextOption = None,
    sender: Annotated[
        str | None, typer.Option(help="CAP sender (GEOALERT_CAP_SENDER by default).")
    ] = None,
    expires: ExpiresOption = None,
    status: Annotated[
        str, typer.Option(help="Actual, Exercise, System, Test or Draft.")
    ] = "Actual",
    category: Annotated[
        str, typer.Option(help="CAP category: Safety, Fire, CBRNE, Met...")
    ] = "Safety",
    update: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CAP file of the alert this one updates."),
    ] = None,
    cancel: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="CAP file of the alert this one cancels."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Print the alert as CAP 1.2: one info per language, the zone's polygons or circles, and
    NIS geocodes of the areas it touches."""
    from geoalert.engine import Engine
    from geoalert.messages.cap import TIMEZONE, CapError, build_cap
    from geoalert.zones import ZoneError

    if update is not None and cancel is not None:
        raise typer.BadParameter("give --update or --cancel, not both")
    now = dt.datetime.now(TIMEZONE)
    try:
        previous = _previous_cap(update or cancel)
        engine = Engine.open(data, db, include=[])
        engine.zone(_read_zone(zone))  # checks area codes and the world's extent
        xml = build_cap(
            _read_zone(zone),
            _texts(text),
            event,
            severity,
            urgency,
            certainty,
            sender,
            _expires(expires, now),
            areas=engine.store.read_areas(),
            status=status,
            msg_type="Update" if update else "Cancel" if cancel else "Alert",
            references=[*previous.references, previous.reference] if previous else (),
            category=category,
            sent=now,
            settings=engine.settings,
        )
    except (CapError, ZoneError) as error:
        raise _fail(error) from None
    typer.echo(xml, nl=False)


@app.command()
def broadcast(
    data: DataOption,
    cap_file: Annotated[
        Path | None,
        typer.Option(
            "--cap",
            exists=True,
            dir_okay=False,
            help="CAP alert to broadcast (zone, texts, levels).",
        ),
    ] = None,
    zone: ZoneOption = None,
    text: TextOption = None,
    severity: Annotated[str | None, typer.Option(help="CAP severity (without --cap).")] = None,
    urgency: Annotated[str | None, typer.Option(help="CAP urgency (without --cap).")] = None,
    certainty: Annotated[str | None, typer.Option(help="CAP certainty (without --cap).")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="CAP status: Test gives the monthly test, Exercise the exercise."),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(help="level-1, amber, monthly-test, exercise, operator-defined or level-4."),
    ] = None,
    primary: Annotated[
        str | None, typer.Option(help="Primary language (default: the first text).")
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Output of the broadcast of the live alert, to update or cancel it.",
        ),
    ] = None,
    cancel: Annotated[
        bool, typer.Option(help="Stop the live alert given with --previous.")
    ] = False,
    expires: ExpiresOption = None,
    at: Annotated[
        str | None, typer.Option(help="When the Alert-SMS goes out (ISO 8601), for recipients.")
    ] = None,
    operators: Annotated[
        list[str] | None, typer.Option(help="Operator MNCs (repeat); all when omitted.")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Cell selection: intersects, centroid or overlap>=F.")
    ] = "intersects",
    scope: Annotated[
        str, typer.Option(help="Serial number scope: plmn, area, cell or cell-immediate.")
    ] = "plmn",
    db: DbOption = None,
) -> None:
    """Print, per operator, the cell broadcast request (TS 23.041 / SBc-AP) and the Alert-SMS
    request for an alert, as JSON; with --previous, its update (or --cancel)."""
    from geoalert.engine import Engine
    from geoalert.messages.area import AreaError
    from geoalert.messages.broadcast import alert_requests, cancel_requests
    from geoalert.messages.cap import TIMEZONE, CapError
    from geoalert.messages.cbs import CbsError
    from geoalert.zones import ZoneError

    now = dt.datetime.now(TIMEZONE)
    try:
        live = json.loads(previous.read_text()) if previous else None
        if cancel:
            if live is None:
                raise typer.BadParameter("--cancel needs --previous (the live alert's output)")
            typer.echo(json.dumps(cancel_requests(live)))
            return
        alert = None
        if cap_file is not None:
            if zone or text or severity or urgency or certainty:
                raise typer.BadParameter("--cap gives zone, texts and levels: do not repeat them")
            alert = _previous_cap(cap_file)
            if alert.msg_type == "Cancel":
                if live is None:
                    raise typer.BadParameter(
                        "a CAP Cancel needs --previous (the live alert's output)"
                    )
                typer.echo(json.dumps(cancel_requests(live)))
                return
            if alert.msg_type == "Update" and live is None:
                raise typer.BadParameter("a CAP Update needs --previous (the live alert's output)")
        elif not (zone and text and severity and urgency and certainty):
            raise typer.BadParameter(
                "give --cap, or --zone, --text, --severity, --urgency and --certainty"
            )
        engine = Engine.open(data, db, include=["cells"])
        result = alert_requests(
            engine,
            zone=alert.zone() if alert else _read_zone(zone),
            texts=alert.texts() if alert else _texts(text),
            severity=alert.infos[0].severity if alert else severity,
            urgency=alert.infos[0].urgency if alert else urgency,
            certainty=alert.infos[0].certainty if alert else certainty,
            status=status or (alert.status if alert else "Actual"),
            level=level,
            identifier=alert.identifier if alert else None,
            primary_language=primary,
            expires=_expires(expires, now) or (alert.infos[0].expires if alert else None),
            at=dt.datetime.fromisoformat(at) if at else now,
            operators=operators,
            policy=policy,
            geographical_scope=scope,
            previous=live,
            now=now,
        )
    except (CapError, ZoneError, CbsError, AreaError, ValueError) as error:
        raise _fail(error) from None
    typer.echo(json.dumps(result))
