"""``geoalert keys create|list|revoke``: API keys of a world's store."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geoalert.cli import app
from geoalert.commands.store_options import Data, Db, store_from_options
from geoalert.keys import KeySpecError, Role, create_key
from geodata.stores.access import KeyExists

keys_app = typer.Typer(help="API keys: create, list and revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(Role)}.")],
    data: Data = None,
    db: Db = None,
    area: Annotated[
        str | None,
        typer.Option(help="NIS code of the province (governor) or municipality (mayor)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Who holds the key (unique).")] = None,
) -> None:
    """Create a key; the key itself is printed alone on the last line, and only once."""
    with store_from_options(data, db) as store:
        try:
            secret, record = create_key(store, role, area, name)
        except (KeySpecError, KeyExists) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
    where = f" for {record.area_code}" if record.area_code else ""
    typer.echo(f"created key {record.name!r}: {record.role}{where}; it is shown only now:")
    typer.echo(secret)


@keys_app.command("list")
def list_(data: Data = None, db: Db = None) -> None:
    """List keys (names, roles, areas, dates; never the keys)."""
    with store_from_options(data, db) as store:
        records = store.list_keys()
    table = Table("name", "role", "area", "created (UTC)", "revoked (UTC)")
    for r in records:
        revoked = f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""
        table.add_row(r.name, r.role, r.area_code or "", f"{r.created_at:%Y-%m-%d %H:%M}", revoked)
    Console().print(table)


@keys_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Name of the key.")],
    data: Data = None,
    db: Db = None,
) -> None:
    """Revoke a key: from now on it authenticates nobody."""
    with store_from_options(data, db) as store:
        try:
            record = store.revoke_key(name)
        except LookupError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"revoked key {record.name!r} at {record.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
