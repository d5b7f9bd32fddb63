"""``geoalert demo-data``: build the demo world of Belgium."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoalert.cli import app

DEFAULT_SHARE, DEFAULT_SHARDS = 1.0, 16


class Scale(StrEnum):
    sample = "sample"
    national = "national"


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write.")],
    scale: Annotated[
        Scale,
        typer.Option(
            help="sample: Brussels-Capital Region and the municipalities around it; "
            "national: Belgium."
        ),
    ] = Scale.sample,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, byte-identical files.")] = 0,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Also write the network event feed of the simulated devices into DIR/events "
            "(for geoalert presence build).",
        ),
    ] = False,
    events_only: Annotated[
        bool,
        typer.Option(
            "--events-only",
            help="Write only DIR/events, the event feed of the world already in DIR (built "
            "with this --scale and --seed); refused if simulating its truth does not give its "
            "presence.parquet.",
        ),
    ] = False,
    events_share: Annotated[
        float,
        typer.Option(
            help="Share of the devices in the event feed, in (0, 1]: a smaller feed of the "
            "same devices.",
        ),
    ] = DEFAULT_SHARE,
    events_shards: Annotated[
        int,
        typer.Option(min=1, help="Device shards of the event feed (a Dask task each)."),
    ] = DEFAULT_SHARDS,
) -> None:
    """Build the demo world (areas, cells, addresses, contacts, groups, truth, presence)."""
    from geoalert.demo import build_world

    if not 0 < events_share <= 1:
        raise typer.BadParameter(f"{events_share} is not in (0, 1]", param_hint="--events-share")
    if not (events or events_only) and (events_share, events_shards) != (
        DEFAULT_SHARE,
        DEFAULT_SHARDS,
    ):
        raise typer.BadParameter(
            "--events-share and --events-shards shape the event feed: add --events or "
            "--events-only",
            param_hint="--events-share/--events-shards",
        )
    console = Console()
    if events_only:
        _feed_of_world(out, scale, seed, events_share, events_shards, console)
        return
    manifest = build_world(
        out,
        scale=scale.value,
        seed=seed,
        progress=True,
        events=events,
        events_share=events_share,
        events_shards=events_shards,
    )
    for name, rows in manifest["counts"].items():
        console.print(f"{name:>20}  {rows:>12,} rows")
    if events:
        from cells.feeds.layout import FEED_FILE
        from geoalert.demo.world import FEED_DIR

        _print_feed(json.loads((out / FEED_DIR / FEED_FILE).read_text()), console)
    console.print(f"{scale.value} world (seed {seed}) in {out}, {manifest['build_seconds']} s")


def _feed_of_world(
    out: Path, scale: Scale, seed: int, share: float, shards: int, console: Console
) -> None:
    """Write ``out/events`` for the world in ``out`` (:func:`cells.feeds.world.feed_from_world`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from cells.feeds.layout import FeedError
    from cells.feeds.world import feed_from_world
    from geoalert.demo.world import FEED_DIR

    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise typer.BadParameter(
            f"{out} holds no world (no manifest.json): build it without --events-only",
            param_hint="--out",
        )
    manifest = json.loads(manifest_path.read_text())
    if (manifest.get("scale"), manifest.get("seed")) != (scale.value, seed):
        raise typer.BadParameter(
            f"{out} holds the {manifest.get('scale')} world of seed {manifest.get('seed')}, "
            f"not the {scale.value} world of seed {seed}",
            param_hint="--scale/--seed",
        )
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as bars:
        task = bars.add_task("Buckets simulated", total=len(manifest["buckets"]["times"]))
        try:
            feed = feed_from_world(
                out,
                out / FEED_DIR,
                shards=shards,
                share=share,
                on_bucket=lambda: bars.advance(task),
            )
        except FeedError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    _print_feed(feed, console)


def _print_feed(feed: dict, console: Console) -> None:
    """The size of a feed, from its ``_feed.json``."""
    console.print(
        f"{'events/':>20}  {feed['events']:>12,} events of {feed['device_stays']:,} device-stays "
        f"(share {feed['share']:g} of the devices, {feed['shards']} shards)"
    )
