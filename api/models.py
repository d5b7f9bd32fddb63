"""Request and response bodies, and the JSON Schema of zones published in the OpenAPI.

Zones are read and checked by :func:`geoalert.zones.parse_zone`, whose errors say exactly
what is wrong and where; the API therefore takes a zone as any JSON object and only
*describes* the accepted forms (:data:`ZONE_FORMS`) in the OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

# -- zone forms, for the OpenAPI document only ------------------------------------------------

Position = Annotated[
    list[float], Field(min_length=2, max_length=3, description="[lon, lat] in EPSG:4326 degrees")
]
Ring = Annotated[list[Position], Field(min_length=4, description="Closed: first = last.")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Polygon(_Closed):
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1)]


class MultiPolygon(_Closed):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1)]


class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: Polygon | MultiPolygon
    properties: dict[str, Any] | None = None


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: Annotated[list[Feature], Field(min_length=1)]


class Circle(_Closed):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    radius_m: float = Field(gt=0, description="Metres.")


class CircleZone(_Closed):
    circle: Circle


class LineString(_Closed):
    type: Literal["LineString"]
    coordinates: Annotated[list[Position], Field(min_length=2)]


class Corridor(_Closed):
    line: LineString
    width_m: float = Field(gt=0, description="Full width in metres, half on each side.")


class CorridorZone(_Closed):
    corridor: Corridor


class AreaZone(_Closed):
    area: str = Field(
        description="NIS code of a municipality, province or region.", examples=["21004"]
    )


class UnionZone(_Closed):
    union: Annotated[list[ZoneForm], Field(min_length=1, description="Zones of any form.")]


ZoneForm = (
    Polygon
    | MultiPolygon
    | Feature
    | FeatureCollection
    | CircleZone
    | CorridorZone
    | AreaZone
    | UnionZone
)
UnionZone.model_rebuild()
ZONE_FORMS = TypeAdapter(ZoneForm)
"""Every accepted zone form (:mod:`geoalert.zones`); its schema goes to the OpenAPI."""

ZoneField = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "allOf": [{"$ref": "#/components/schemas/Zone"}],
            "description": "The alert zone, in any accepted form.",
        }
    ),
]

# -- requests ---------------------------------------------------------------------------------

Part = Literal["cells", "addresses", "contacts", "population"]


class ResolveRequest(_Closed):
    """What to resolve: a zone and options; every part and operator by default."""

    zone: ZoneField
    operators: list[str] | None = Field(
        None, description="Operator MNCs (`01`, `10`, `20`); every operator when omitted."
    )
    include: list[Part] | None = Field(None, description="Parts to compute; all by default.")
    at: datetime | None = Field(None, description="Time of the present-population estimate.")
    policy: str | dict[str, str] = Field(
        "intersects",
        description="Cell selection policy (`intersects`, `centroid`, `overlap>=0.5`), "
        "or one per operator MNC.",
    )


# -- responses --------------------------------------------------------------------------------


class ResolvedZone(BaseModel):
    geometry: dict[str, Any] = Field(description="The zone resolved, GeoJSON.")
    area_km2: float
    warnings: list[str]


class Resolution(BaseModel):
    """``geoalert.Resolution.to_dict()``: the zone, then one member per included part."""

    model_config = ConfigDict(extra="allow")
    zone: ResolvedZone


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class CapRequest(_Closed):
    """A CAP 1.2 alert to write for a zone: CAP's own vocabulary, one text per language."""

    zone: ZoneField
    texts: dict[str, str] = Field(
        description="Message per language (`nl`, `fr`, `de`, `en` or a full tag).",
        examples=[{"nl": "Blijf binnen.", "fr": "Restez à l'intérieur."}],
    )
    event: str = Field(min_length=1, examples=["Chemical fire"])
    severity: Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
    urgency: Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
    certainty: Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    msg_type: Literal["Alert", "Update", "Cancel"] = "Alert"
    references: list[str] = Field(
        default_factory=list, description="Alerts replaced, each `sender,identifier,sent`."
    )
    category: Literal[
        "Geo",
        "Met",
        "Safety",
        "Security",
        "Rescue",
        "Fire",
        "Health",
        "Env",
        "Transport",
        "Infra",
        "CBRNE",
        "Other",
    ] = "Safety"
    expires: datetime | None = None
    headlines: dict[str, str] | None = None
    instructions: dict[str, str] | None = None
