"""``geoalert resolve``: resolve one zone against a world and print the result as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from geoalert.cli import app


def _split(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated option values as one list."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@app.command()
def resolve(
    data: Annotated[
        Path,
        typer.Option(
            "--data", exists=True, file_okay=False, help="World directory (geoalert demo-data)."
        ),
    ],
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            help="The zone as JSON (GeoJSON, circle, corridor, area, union), or @FILE to read it.",
        ),
    ] = None,
    cap: Annotated[
        Path | None,
        typer.Option(
            "--cap", exists=True, dir_okay=False, help="A CAP 1.2 alert: resolve its areas."
        ),
    ] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="PostGIS store URL; the embedded store if unset.")
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(help="Parts to compute (repeat or comma-separate); all when omitted."),
    ] = None,
    operators: Annotated[
        list[str] | None,
        typer.Option(help="Operator MNCs such as 01 (repeat or comma-separate); all when omitted."),
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Cell selection: intersects, centroid or overlap>=F.")
    ] = "intersects",
    at: Annotated[str | None, typer.Option(help="Time for the population part (ISO 8601).")] = None,
) -> None:
    """Resolve a zone into cells (and the other parts) and print the result as JSON."""
    from geoalert.engine import Engine
    from geoalert.messages.cap import CapError, parse_cap
    from geoalert.zones import ZoneError

    if (zone is None) == (cap is None):
        raise typer.BadParameter("give either --zone or --cap")
    if cap is not None:
        try:
            zone = parse_cap(cap.read_bytes()).zone()
        except CapError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(code=2) from None
    elif zone.startswith("@"):
        path = Path(zone[1:])
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}", param_hint="--zone")
        zone = path.read_text()
    parts = _split(include)
    try:
        engine = Engine.open(data, db, include=parts)
        result = engine.resolve(
            zone, include=parts, operators=_split(operators), at=at, policy=policy
        )
    except ZoneError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(json.dumps(result.to_dict()))
