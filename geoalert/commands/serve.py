"""``geoalert serve``: the API and the map page over one world, with uvicorn."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from geoalert.cli import app
from geoalert.settings import get_settings


@app.command()
def serve(
    data: Annotated[
        Path,
        typer.Option(
            "--data", exists=True, file_okay=False, help="World directory (geoalert demo-data)."
        ),
    ],
    db: Annotated[
        str | None, typer.Option("--db", help="PostGIS store URL; the embedded store if unset.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes, each holding the world in memory.")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Serve the resolve API (OpenAPI at /openapi.json, docs at /docs) and the map page."""
    # Settings travel to the worker processes through the environment (geoalert.settings).
    os.environ["GEOALERT_DATA_DIR"] = str(data.resolve())
    if db is not None:
        os.environ["GEOALERT_DB_URL"] = db
    get_settings.cache_clear()
    if workers == 1 or get_settings().api_rate_limit_file is not None:
        _run(host, port, workers, access_log)
        return
    # The workers share the keys' rate limits through a file (api.ratelimit) of this server's
    # own, which the first of them creates.
    with tempfile.TemporaryDirectory(prefix="geoalert-serve-") as folder:
        os.environ["GEOALERT_API_RATE_LIMIT_FILE"] = str(Path(folder) / "rate-limits.sqlite")
        get_settings.cache_clear()
        try:
            _run(host, port, workers, access_log)
        finally:
            del os.environ["GEOALERT_API_RATE_LIMIT_FILE"]
            get_settings.cache_clear()


def _run(host: str, port: int, workers: int, access_log: bool) -> None:
    import uvicorn

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        # A worker opening a national world spends long stretches in C calls that hold the
        # GIL, so its health-check thread may not answer within uvicorn's default 5 s.
        timeout_worker_healthcheck=120,
    )
