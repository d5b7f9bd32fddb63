"""``geoalert population score``: accuracy of present-population estimates against a truth.

Runs ``benchmarks/score_population.py`` of the source tree, the only program of the project
that reads a world's ``truth.parquet``; the engine itself never does.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Annotated

import typer

import geoalert
from geoalert.cli import app

population_app = typer.Typer(help="Present population: scoring against a world's truth.")
app.add_typer(population_app, name="population")

SCRIPT = Path(geoalert.__file__).resolve().parents[1] / "benchmarks" / "score_population.py"


@population_app.command("score")
def score(
    data: Annotated[Path, typer.Option(help="World directory (geoalert demo-data --out).")],
    circles: Annotated[int, typer.Option(help="Number of circle zones.")] = 400,
    seed: Annotated[int, typer.Option(help="Seed of the circle zones.")] = 7,
    min_truth: Annotated[int, typer.Option(help="Smallest truth scored, people.")] = 500,
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated estimators (all by default).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures here.")] = None,
) -> None:
    """Score every estimator on a world against its truth.

    Median error and interval coverage per zone kind and time bucket, over the world's
    municipalities and circles of 200 m to 15 km.
    """
    if not SCRIPT.is_file():
        raise typer.BadParameter(
            f"the scoring script {SCRIPT} is not here: it ships with the source tree, not the "
            "installed package"
        )
    if not (data / "truth.parquet").is_file():
        raise typer.BadParameter(
            f"{data} holds no truth.parquet to score against", param_hint="--data"
        )
    argv = ["--data", str(data), "--circles", str(circles), "--seed", str(seed)]
    argv += ["--min-truth", str(min_truth)]
    if methods:
        argv += ["--methods", methods]
    if json_out:
        argv += ["--json", str(json_out)]
    runpy.run_path(str(SCRIPT))["main"](argv)
