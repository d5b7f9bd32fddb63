"""Response classes: JSON written straight to bytes with orjson (numpy values included)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    """``application/json`` rendered by orjson: no intermediate encoding pass."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class GeoJSON(JSON):
    """``application/geo+json`` (RFC 7946)."""

    media_type = "application/geo+json"


class CapXML(Response):
    """A CAP 1.2 alert."""

    media_type = "application/cap+xml"
