"""``geoalert presence build``: an operator's event feed to ``presence.parquet``, on Dask.

With no ``--scheduler`` the aggregation runs on a local ``dask.distributed`` cluster of worker
processes started for the command; with ``--scheduler ADDRESS`` the same code runs on the
workers of an existing cluster.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoalert.cli import app

presence_app = typer.Typer(help="Operators' presence counts from network event feeds.")
app.add_typer(presence_app, name="presence")


@presence_app.command("build")
def build(
    events: Annotated[
        Path,
        typer.Option(
            "--events",
            exists=True,
            file_okay=False,
            help="Event feed directory (geoalert demo-data --events writes DIR/events).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="presence.parquet to write.")],
    cells: Annotated[
        Path | None,
        typer.Option(
            "--cells", dir_okay=False, help="cells.parquet; by default next to the feed directory."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a dask.distributed scheduler, e.g. tcp://10.0.0.5:8786."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of the local cluster (no --scheduler).")
    ] = 2,
    window: Annotated[
        str | None,
        typer.Option(
            help="A device last seen at most this long before a bucket's end is present "
            "(e.g. 2h, 90min, PT2H); GEOALERT_PRESENCE_WINDOW by default."
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(min=1, help="k-anonymity threshold; GEOALERT_K_ANONYMITY by default."),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(help="Bucket start (ISO 8601, repeat); the feed's buckets by default."),
    ] = None,
    bucket_length: Annotated[
        str | None, typer.Option(help="Bucket length (e.g. 1h); the feed's by default.")
    ] = None,
) -> None:
    """Count the devices present per cell, time bucket and home country from an event feed."""
    import pandas as pd

    from cells.feeds.aggregate import (
        Windows,
        presence_table,
        present_devices,
        read_cells,
        shard_counts,
    )
    from cells.feeds.layout import Feed, FeedError
    from geoalert.settings import get_settings
    from geodata.synth.parquet import write_parquet

    settings = get_settings()
    console = Console(stderr=True, soft_wrap=True)
    cells = cells or events.parent / "cells.parquet"
    if not cells.is_file():
        raise typer.BadParameter(f"{cells} is not a file", param_hint="--cells")
    if not out.parent.is_dir():
        raise typer.BadParameter(f"{out.parent} is not a directory", param_hint="--out")
    try:
        feed = Feed.open(events)
        table = read_cells(cells)
        windows = Windows(
            times=pd.DatetimeIndex([pd.Timestamp(t) for t in at]) if at else feed.bucket_times,
            length=pd.Timedelta(bucket_length) if bucket_length else feed.bucket_length,
            window=pd.Timedelta(window) if window else pd.Timedelta(settings.presence_window),
        )
    except ValueError as exc:  # FeedError, and unparsable or naive times and durations
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    k = settings.k_anonymity if k is None else k

    started = time.perf_counter()
    with _client(scheduler, workers, console) as client:
        parts = client.persist(shard_counts(feed, table["cell_id"].to_numpy(object), windows))
        try:
            _wait(parts, feed.shards)
            counts = present_devices(parts)
        except FeedError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    presence, report = presence_table(counts, table, windows, k)
    write_parquet(presence, out)
    seconds = time.perf_counter() - started
    read = feed.events_in(windows.hours)
    console.print(
        f"{report['devices']:,} devices present in {len(windows.times)} bucket(s) "
        f"(window {windows.window.isoformat()}), from {read:,} events in {seconds:.1f} s "
        f"({read / seconds:,.0f} events/s); k={k}: {report['suppressed_counts']:,} counts "
        f"of {report['suppressed_devices']:,} devices suppressed; {len(presence):,} rows "
        f"written to {out}"
    )


@contextmanager
def _client(scheduler: str | None, workers: int, console: Console):
    """A ``dask.distributed`` client: of the scheduler at ``scheduler``, or of a local cluster
    of ``workers`` single-threaded processes closed on exit."""
    from distributed import Client

    from cells.feeds.aggregate import local_cluster

    if scheduler is None:
        with local_cluster(workers) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        console.print(f"[red]error:[/red] no Dask scheduler answers at {scheduler}: {exc}")
        raise typer.Exit(2) from None
    with client:
        yield client


def _wait(parts, shards: int) -> None:
    """Wait for the shards' counts, one progress step per shard."""
    from distributed import as_completed, futures_of
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), transient=True) as bars:
        task = bars.add_task("Shards aggregated", total=shards)
        for _ in as_completed(futures_of(parts)):
            bars.advance(task)
