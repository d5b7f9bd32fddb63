"""The ``geoalert`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="geoalert",
    help="Geospatial engine for public warning: alert zones to cells, contacts and population.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main() -> None:
    """Geospatial engine for public warning."""


from geoalert.commands import keys  # noqa: E402, F401  # isort: skip
from geoalert.commands import serve  # noqa: E402, F401  # isort: skip
from geoalert.commands import resolve  # noqa: E402, F401  # isort: skip
from geoalert.commands import messages  # noqa: E402, F401  # isort: skip
from geoalert.commands import demo_data  # noqa: E402, F401  # isort: skip
from geoalert.commands import db  # noqa: E402, F401  # isort: skip
from geoalert.commands import contacts  # noqa: E402, F401  # isort: skip
from geoalert.commands import population  # noqa: E402, F401  # isort: skip
from geoalert.commands import alert  # noqa: E402, F401  # isort: skip
from geoalert.commands import presence  # noqa: E402, F401  # isort: skip
