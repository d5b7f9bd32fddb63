"""Command-line options that choose a world's store (``--data DIR`` or ``--db URL``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geoalert.settings import get_settings
from geodata.stores import BaseStore, open_store
from geodata.stores.migrate import SchemaOutdated

Data = Annotated[
    Path | None,
    typer.Option("--data", file_okay=False, help="World directory (embedded store)."),
]
Db = Annotated[str | None, typer.Option("--db", help="PostGIS store URL, instead of --data.")]


def store_from_options(data: Path | None, db: str | None) -> BaseStore:
    """The store named by ``--data``/``--db``; a usage error (exit 2) when it cannot open."""
    if data is None and db is None:
        raise typer.BadParameter("give the world with --data DIR (or a PostGIS store with --db)")
    try:
        return open_store(data, db, metric_crs=get_settings().metric_crs)
    except (FileNotFoundError, ValueError, SchemaOutdated) as error:
        raise typer.BadParameter(str(error)) from None
