"""``geoalert demo-data``: build the demo world of Belgium."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geoalert.cli import app


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
) -> None:
    """Build the demo world (areas, cells, addresses, contacts, groups, truth, presence)."""
    from geoalert.demo import build_world

    manifest = build_world(out, scale=scale.value, seed=seed, progress=True, events=events)
    console = Console()
    for name, rows in manifest["counts"].items():
        console.print(f"{name:>20}  {rows:>12,} rows")
    if events:
        feed = json.loads((out / "events" / "_feed.json").read_text())
        console.print(f"{'events/':>20}  {feed['events']:>12,} events")
    console.print(f"{scale.value} world (seed {seed}) in {out}, {manifest['build_seconds']} s")
