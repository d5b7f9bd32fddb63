"""``geoalert db upgrade`` and ``geoalert load``: prepare and fill a PostGIS store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoalert.cli import app

db_app = typer.Typer(help="PostGIS store schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DbUrl = Annotated[
    str, typer.Option("--db", help="Database URL, e.g. postgresql+psycopg://host/geoalert.")
]


@db_app.command("upgrade")
def upgrade(
    db: DbUrl,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the store schema (PostGIS extension included)."""
    import sqlalchemy as sa

    from geodata.stores import migrate

    engine = sa.create_engine(db)
    try:
        reached = migrate.upgrade(engine, revision)
    finally:
        engine.dispose()
    typer.echo(f"database at revision {reached} (newest {migrate.head()})")


@app.command("load")
def load(
    data: Annotated[
        Path, typer.Option("--data", exists=True, file_okay=False, help="World directory.")
    ],
    db: DbUrl,
) -> None:
    """Replace the world in a PostGIS store with the world of --data (COPY, GiST indexes).

    API keys and the audit log of the database are kept.
    """
    from geodata.stores.load import load_world

    counts = load_world(data, db, progress=True)
    console = Console()
    seconds = counts.pop("seconds")
    for table, rows in counts.items():
        console.print(f"{table:>20}  {rows:>12,} rows")
    console.print(f"loaded {data} in {seconds} s")
